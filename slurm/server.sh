# shellcheck shell=bash
# Shell functions for the batch scripts that serve a model (llm-server.sbatch, evolve-with-server.sbatch);
# sourced after lib.sh (they use t2s_die and $T2S), never run. The server is any OpenAI-compatible one
# (vLLM, llama.cpp's llama-server, ...), started from a command line:
#   T2S_SERVER_COMMAND        the command, run by bash; {port} in it is replaced by the port, which is
#                             also in $PORT. Write an API key as "$T2S_API_KEY", never literally: the
#                             health check and t2s read it from there, and nothing here prints it.
#   T2S_SERVER_PORT           the port (default: a free one on this node)
#   T2S_SERVER_HOST           the name other nodes reach this one by (default: `hostname`)
#   T2S_SERVER_START_TIMEOUT  seconds the server has to answer (default 1800: a large model loads for minutes)
#   T2S_ENDPOINT_FILE         where the URL (http://HOST:PORT/v1) is written once the server answers, on
#                             a file system the analysis jobs see; removed again when the server stops

t2s_server_pid=        # the server (or the srun that runs it), started in the background
t2s_server_target=     # what TERM goes to: the server's process group, or the srun
t2s_server_url=
t2s_server_published=  # the endpoint file this job wrote

t2s_server_fail() {
  echo "t2s server: $*" >&2
  exit 1
}

# Checks the configuration and chooses the port and URL (sets t2s_server_url, exports PORT).
t2s_server_configure() {
  [ -n "${T2S_SERVER_COMMAND:-}" ] || t2s_die "T2S_SERVER_COMMAND is not set: give the model server's command, e.g. 'vllm serve MODEL --port {port}'"
  case "${T2S_SERVER_START_TIMEOUT:-1800}" in
    '' | *[!0-9]*) t2s_die "T2S_SERVER_START_TIMEOUT=$T2S_SERVER_START_TIMEOUT: give whole seconds" ;;
  esac
  local file=${T2S_ENDPOINT_FILE:-}
  if [ -n "$file" ]; then
    # Found out now, not after the model has loaded for half an hour.
    if ! [ -d "$(dirname "$file")" ] || ! [ -w "$(dirname "$file")" ]; then
      t2s_die "T2S_ENDPOINT_FILE=$file: its directory does not exist or is not writable"
    fi
    if [ -e "$file" ]; then
      echo "t2s server: removing the stale endpoint file $file (it said $(head -n 1 "$file" 2>/dev/null))"
      rm -f "$file" || t2s_die "cannot remove the stale endpoint file $file"
    fi
  fi
  local port=${T2S_SERVER_PORT:-}
  if [ -n "$port" ]; then
    case "$port" in
      [1-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | [1-9][0-9][0-9][0-9][0-9]) ;;
      *) t2s_die "T2S_SERVER_PORT=$port is not a port number" ;;
    esac
    [ "$port" -le 65535 ] || t2s_die "T2S_SERVER_PORT=$port is not a port number"
  else
    # Below Linux's ephemeral range (32768-60999), where outgoing connections take their ports.
    local tries
    for tries in $(seq 100); do
      port=$((20000 + RANDOM % 12000))
      (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
      [ "$tries" -lt 100 ] || t2s_die "no free port found on $(hostname); set T2S_SERVER_PORT"
    done
  fi
  export PORT=$port
  t2s_server_url="http://${T2S_SERVER_HOST:-$(hostname)}:$port/v1"
}

# Starts T2S_SERVER_COMMAND in the background, through LAUNCHER... when given (e.g. srun
# --het-group=0 --ntasks=1), else in a process group of its own so that stopping it stops every
# process the command started. From here on, TERM, INT and the end of the script stop it.
# shellcheck disable=SC2120  # llm-server.sbatch passes no launcher, evolve-with-server.sbatch does
t2s_server_start() {
  local command=${T2S_SERVER_COMMAND//\{port\}/$PORT}
  trap t2s_server_stop EXIT
  trap 't2s_server_stop; exit 143' TERM
  trap 't2s_server_stop; exit 130' INT
  echo "t2s server: starting T2S_SERVER_COMMAND on port $PORT (its output follows); waiting up to ${T2S_SERVER_START_TIMEOUT:-1800} s for it to answer at $t2s_server_url"
  if [ "$#" -gt 0 ]; then
    "$@" bash -c "$command" &
    t2s_server_pid=$!
    t2s_server_target=$t2s_server_pid
  else
    setsid bash -c "$command" &
    t2s_server_pid=$!
    t2s_server_target=-$t2s_server_pid
  fi
}

# Returns once `t2s llm ping` gets a chat answer from the server; fails the job when the server
# exits first or does not answer within T2S_SERVER_START_TIMEOUT seconds.
t2s_server_wait_healthy() {
  local limit=${T2S_SERVER_START_TIMEOUT:-1800} start=$SECONDS note=$((SECONDS + 60)) last status
  while :; do
    # USR1 (lib.sh's trap) while the model loads: requeue now rather than start the run.
    if [ "${t2s_interrupted:-0}" -ne 0 ]; then t2s_requeue; fi
    if last=$("$T2S" llm ping --base-url "$t2s_server_url" --timeout 5 2>&1); then
      echo "t2s server: the model server answers at $t2s_server_url after $((SECONDS - start)) s"
      return 0
    fi
    if ! kill -0 "$t2s_server_pid" 2>/dev/null; then
      status=0
      wait "$t2s_server_pid" || status=$?
      t2s_server_pid=
      t2s_server_fail "the model server exited (status $status) before it answered at $t2s_server_url; its output is above"
    fi
    [ $((SECONDS - start)) -lt "$limit" ] \
      || t2s_server_fail "the model server did not answer at $t2s_server_url within $limit s (T2S_SERVER_START_TIMEOUT); the last \`t2s llm ping\` said: ${last##*$'\n'}"
    if [ "$SECONDS" -ge "$note" ]; then
      echo "t2s server: still waiting for the model server ($((SECONDS - start)) s)"
      note=$((note + 60))
    fi
    sleep 2
  done
}

# Writes the URL to T2S_ENDPOINT_FILE (when set) in one step: temporary file, then rename, so a
# reader sees either no file or the whole URL.
t2s_server_publish() {
  local file=${T2S_ENDPOINT_FILE:-} tmp
  [ -n "$file" ] || return 0
  tmp=$(mktemp "$file.XXXXXX") || t2s_server_fail "cannot write the endpoint file $file"
  if ! printf '%s\n' "$t2s_server_url" > "$tmp" || ! mv -f "$tmp" "$file"; then
    rm -f "$tmp"
    t2s_server_fail "cannot write the endpoint file $file"
  fi
  t2s_server_published=$file
  echo "t2s server: endpoint $t2s_server_url written to $file"
}

# Removes the endpoint file first (no job may pick up a server that is going away), then stops the
# server: TERM, and KILL after 30 s. Safe to call more than once.
t2s_server_stop() {
  local file=$t2s_server_published
  t2s_server_published=
  # Only while it still names this server: a newer server job may have taken the file over.
  if [ -n "$file" ] && [ "$(head -n 1 "$file" 2>/dev/null)" = "$t2s_server_url" ]; then
    rm -f "$file" && echo "t2s server: removed the endpoint file $file"
  fi
  local pid=$t2s_server_pid
  t2s_server_pid=
  [ -n "$pid" ] || return 0
  # It may be gone already: Slurm signals every process of a cancelled job.
  kill -TERM -- "$t2s_server_target" 2>/dev/null
  local _
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "$t2s_server_target" 2>/dev/null; fi
  wait "$pid" 2>/dev/null
  echo "t2s server: the model server is stopped"
}

# Waits until the server exits (a trapped signal makes `wait` return early: then it waits again) and
# returns its exit status.
t2s_server_wait_exit() {
  local status=0
  while :; do
    status=0
    wait "$t2s_server_pid" || status=$?
    kill -0 "$t2s_server_pid" 2>/dev/null || break
  done
  t2s_server_pid=
  return "$status"
}

# The whole server job: start, wait until it answers, publish the endpoint, serve until cancelled.
t2s_serve() {
  [ -n "${T2S_ENDPOINT_FILE:-}" ] || t2s_die "T2S_ENDPOINT_FILE is not set: name the file (on a shared file system) the analysis jobs wait for"
  t2s_server_configure
  t2s_server_start
  t2s_server_wait_healthy
  t2s_server_publish
  local status=0
  t2s_server_wait_exit || status=$?
  t2s_server_stop
  t2s_server_fail "the model server stopped by itself (status $status); the endpoint file is removed"
}
