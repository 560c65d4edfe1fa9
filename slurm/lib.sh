# Shared by submit.sbatch, start-head.sh and start-worker.sh (sourced, not run).
#
# Everything a job's Ray cluster uses is named after the job, so that two jobs on the same nodes
# never share a port, a temp directory or a token:
#   HPOTK_JOB_DIR          shared job directory (token, readiness files), mode 0700
#   HPOTK_PORT_BASE        first port of the job's block (HPOTK_PORT_BLOCK ports)
#   HPOTK_SHARED_HOST=1    several Slurm nodes share one host and network namespace (test
#                          clusters): each node of the job then gets its own block
#   HPOTK_NODE_INDEX       this node's position in the job's node list (set per step)
#   HPOTK_RAY_TMPROOT      node-local root for Ray's temp dir (default /tmp)
#   RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH=$HPOTK_JOB_DIR/ray_token

HPOTK_PORT_BLOCK=${HPOTK_PORT_BLOCK:-400}
HPOTK_PORT_FIRST=${HPOTK_PORT_FIRST:-20000}   # blocks stay below Linux's ephemeral range (32768+)
HPOTK_PORT_LAST=${HPOTK_PORT_LAST:-32767}
HPOTK_RAY=${HPOTK_RAY:-ray}

hpotk_log() { printf '[hpotk %s %s] %s\n' "$(date +%H:%M:%S)" "${SLURMD_NODENAME:-$(hostname -s)}" "$*" >&2; }

hpotk_node_name() { echo "${SLURMD_NODENAME:-$(hostname -s)}"; }

# The IP other nodes reach this node at: HPOTK_NODE_IP, else what the node name resolves to,
# else the first address of `hostname -I`.
hpotk_node_ip() {
    local name=${1:-$(hpotk_node_name)} ip
    if [[ -n ${HPOTK_NODE_IP:-} ]]; then echo "$HPOTK_NODE_IP"; return; fi
    # not 127.0.0.1 / 127.0.1.1, where many distributions map the machine's own name
    ip=$(getent ahostsv4 "$name" 2>/dev/null | awk '$1 != "127.0.0.1" && $1 != "127.0.1.1" {print $1; exit}')
    [[ -n $ip ]] || ip=$(hostname -I 2>/dev/null | awk '{print $1}')
    [[ -n $ip ]] || { hpotk_log "cannot find an IP address for node $name"; return 1; }
    echo "$ip"
}

# Number of port blocks and the job's first candidate block.
# A job spans one block, or one per node (HPOTK_PORT_BLOCKS, set by submit.sbatch) on a shared host.
hpotk_job_span() { echo $(( HPOTK_PORT_BLOCK * ${HPOTK_PORT_BLOCKS:-1} )); }
hpotk_port_slots() { echo $(( (HPOTK_PORT_LAST - HPOTK_PORT_FIRST + 1) / $(hpotk_job_span) )); }
hpotk_port_base_for() {  # hpotk_port_base_for JOB_ID TRY
    local slots
    slots=$(hpotk_port_slots)
    echo $(( HPOTK_PORT_FIRST + (( $1 + $2 ) % slots) * $(hpotk_job_span) ))
}
# This node's first port: the job's block, or the node's own block on a shared host.
hpotk_node_port_base() {
    echo $(( HPOTK_PORT_BASE + (${HPOTK_PORT_BLOCKS:-1} > 1 ? ${HPOTK_NODE_INDEX:-0} : 0) * HPOTK_PORT_BLOCK ))
}

# The ports of the block, one per Ray service; workers get the rest of the block.
hpotk_ray_port_args() {  # hpotk_ray_port_args BASE [head]
    local b=$1
    local args=(
        --node-manager-port=$((b + 2)) --object-manager-port=$((b + 3))
        --runtime-env-agent-port=$((b + 4)) --dashboard-agent-grpc-port=$((b + 5))
        --dashboard-agent-listen-port=$((b + 6)) --metrics-export-port=$((b + 7))
        --min-worker-port=$((b + 20)) --max-worker-port=$((b + HPOTK_PORT_BLOCK - 1))
    )
    if [[ ${2:-} == head ]]; then
        args+=(--port=$b --ray-client-server-port=$((b + 1)) --dashboard-port=$((b + 8)))
    fi
    printf '%s\n' "${args[@]}"
}

# Exit 0 when no port in [BASE, BASE+COUNT) is listening on this node (COUNT: one block);
# exit 1 and print the first busy port otherwise. A block is checked, not reserved: two jobs
# collide only if one had to skip its own block and both start within the same seconds.
hpotk_ports_free() {  # hpotk_ports_free BASE [COUNT]
    local lo=$1 hi=$(( $1 + ${2:-$HPOTK_PORT_BLOCK} - 1 )) busy
    if command -v ss >/dev/null; then
        busy=$(ss -Htln 2>/dev/null | awk -v lo="$lo" -v hi="$hi" '
            { n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) { print p; exit } }')
    else  # state 0A: LISTEN
        busy=$(awk -v lo="$lo" -v hi="$hi" 'NR > 1 && $4 == "0A" {
            split($2, a, ":"); p = strtonum("0x" a[2]); if (p >= lo && p <= hi) { print p; exit } }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    fi
    [[ -z $busy ]] && return 0
    echo "$busy"
    return 1
}

# This node's Ray temp dir: short (Ray's unix socket paths must stay < 108 characters) and
# named after job and node (nodes may share /tmp in tests; never on a real cluster).
hpotk_ray_tmp() {
    local dir="${HPOTK_RAY_TMPROOT:-/tmp}/hpotk-${SLURM_JOB_ID:?}-$(hpotk_node_name)"
    if (( ${#dir} > 48 )); then
        hpotk_log "Ray temp dir $dir is too long for Ray's socket paths (max 48 characters);" \
            "set HPOTK_RAY_TMPROOT to a short node-local directory"
        return 1
    fi
    echo "$dir"
}

# GPUs of this node's allocation: SLURM_GPUS_ON_NODE, else CUDA_VISIBLE_DEVICES, else 0.
hpotk_gpus() {
    if [[ -n ${SLURM_GPUS_ON_NODE:-} ]]; then echo "$SLURM_GPUS_ON_NODE"; return; fi
    if [[ -n ${CUDA_VISIBLE_DEVICES:-} && ${CUDA_VISIBLE_DEVICES} != NoDevFound ]]; then
        awk -F, '{print NF}' <<<"$CUDA_VISIBLE_DEVICES"
        return
    fi
    echo 0
}

# PIDs of this node's processes of the job's Ray (anything whose command line names its temp dir).
hpotk_ray_pids() {  # hpotk_ray_pids TMPDIR
    local tmp=$1 f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        # an argument inside the temp dir, or ending with it (--temp-dir=DIR)
        if tr '\0' '\n' 2>/dev/null <"$f" | awk -v t="$tmp" '
            index($0, t "/") || (length($0) >= length(t) && substr($0, length($0) - length(t) + 1) == t) {
                found = 1; exit } END { exit !found }'; then
            echo "$pid"
        fi
    done
}

# Stop this node's part of the job's Ray: SIGTERM, then SIGKILL after a grace period; remove
# the temp dir. Only the job's processes are touched (`ray stop` would stop every Ray on the node).
hpotk_stop_local() {  # hpotk_stop_local TMPDIR [GRACE_S]
    local tmp=$1 grace=${2:-10} pids
    pids=$(hpotk_ray_pids "$tmp")
    if [[ -n $pids ]]; then
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq $(( grace * 5 ))); do
            pids=$(hpotk_ray_pids "$tmp")
            [[ -z $pids ]] && break
            sleep 0.2
        done
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
    fi
    rm -rf -- "$tmp"
}

# Wait until FILE exists, or fail after TIMEOUT seconds; stop early when PID (if given) is gone,
# or when LOG (if given) says the head refused this node's token (Ray would retry for 20 s).
hpotk_wait_file() {  # hpotk_wait_file FILE TIMEOUT [PID [LOG]]
    local file=$1 deadline=$(( SECONDS + $2 )) pid=${3:-} log=${4:-}
    while [[ ! -e $file ]]; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
        if [[ -n $log ]] && grep -q "InvalidAuthToken" "$log" 2>/dev/null; then return 3; fi
        (( SECONDS < deadline )) || return 1
        sleep 0.2
    done
}

# Record why this node failed, for the driver's readiness check to report.
hpotk_fail() {
    local msg="$*"
    hpotk_log "error: $msg"
    [[ -n ${HPOTK_JOB_DIR:-} ]] && printf '%s\n' "$msg" >"$HPOTK_JOB_DIR/failed-$(hpotk_node_name)" || true
    exit 1
}

# Start this node's Ray (ROLE head or worker) in the background: sets ray_pid, and returns once
# Ray is up (1: it did not start; see the log). ADDRESS: the head's GCS (workers only). CPUs and
# GPUs come from the allocation; ports from BASE (`hpotk_ray_port_args`); the temp dir is TMP.
hpotk_ray_start() {  # hpotk_ray_start ROLE ADDRESS BASE TMP LOG
    local role=$1 address=$2 base=$3 tmp=$4 log=$5 node ip cpus gpus
    node=$(hpotk_node_name)
    ip=$(hpotk_node_ip) || { hpotk_log "error: no IP address for node $node"; return 1; }
    cpus=${SLURM_CPUS_ON_NODE:-${SLURM_CPUS_PER_TASK:-1}}
    gpus=$(hpotk_gpus)
    # hpotk_node:<name>, a per-node resource: readiness counts the job's nodes by it, since two
    # Slurm nodes on one host (HPOTK_SHARED_HOST=1) share an IP address
    local args=(start --block --node-ip-address="$ip" --num-cpus="$cpus" --num-gpus="$gpus"
                --resources="{\"hpotk_node:$node\": 1}"
                --temp-dir="$tmp" --disable-usage-stats)
    mapfile -t -O "${#args[@]}" args < <(hpotk_ray_port_args "$base" "$role")
    [[ -n ${HPOTK_OBJECT_STORE_BYTES:-} ]] && args+=(--object-store-memory="$HPOTK_OBJECT_STORE_BYTES")
    if [[ $role == head ]]; then
        args+=(--head --include-dashboard="${HPOTK_RAY_DASHBOARD:-false}")
    else
        args+=(--address="$address")
    fi
    mkdir -p -m 0700 "$tmp"
    hpotk_log "starting Ray $role: $ip, $cpus CPU(s), $gpus GPU(s), ports $base+, temp $tmp"
    "$HPOTK_RAY" "${args[@]}" >"$log" 2>&1 &
    ray_pid=$!
    # `ray start` writes ray_current_cluster into its temp dir once this node has started
    hpotk_wait_file "$tmp/ray_current_cluster" "${HPOTK_START_TIMEOUT:-300}" "$ray_pid" "$log"
}

# Run this node's part of the job's Ray cluster in the foreground until SIGTERM/SIGINT (or until
# Ray dies), then stop it. ROLE is head or worker.
hpotk_ray_node() {  # hpotk_ray_node ROLE
    local role=$1 node tmp base address=
    : "${HPOTK_JOB_DIR:?} ${HPOTK_PORT_BASE:?} ${SLURM_JOB_ID:?}"
    node=$(hpotk_node_name)
    tmp=$(hpotk_ray_tmp) || hpotk_fail "Ray temp dir too long on $node"
    base=$(hpotk_node_port_base)
    hpotk_ports_free "$base" >/dev/null \
        || hpotk_fail "port block $base+$HPOTK_PORT_BLOCK is in use on $node"
    if [[ $role != head ]]; then
        # readiness, not a sleep: the head writes head.ready once its Ray is up
        hpotk_wait_file "$HPOTK_JOB_DIR/head.ready" "${HPOTK_START_TIMEOUT:-300}" \
            || hpotk_fail "the head did not become ready within ${HPOTK_START_TIMEOUT:-300} s"
        address=$(cat "$HPOTK_JOB_DIR/head.ready")
    fi

    # globals: the traps run after this function has returned
    HPOTK_NODE_TMP=$tmp HPOTK_NODE_ROLE=$role ray_pid=
    trap 'hpotk_log "stopping Ray ($HPOTK_NODE_ROLE)"; [[ -n $ray_pid ]] && kill -TERM "$ray_pid" 2>/dev/null || true' TERM INT HUP USR2
    trap 'hpotk_stop_local "$HPOTK_NODE_TMP"' EXIT
    hpotk_ray_start "$role" "$address" "$base" "$tmp" "$HPOTK_JOB_DIR/ray-$role-$node.log" \
        || hpotk_fail "Ray $role did not start on $node; see $HPOTK_JOB_DIR/ray-$role-$node.log"
    if [[ $role == head ]]; then
        printf '%s:%s' "$(hpotk_node_ip)" "$base" >"$HPOTK_JOB_DIR/head.ready.tmp"
        mv "$HPOTK_JOB_DIR/head.ready.tmp" "$HPOTK_JOB_DIR/head.ready"
    fi
    hpotk_log "Ray $role up"
    while kill -0 "$ray_pid" 2>/dev/null; do
        wait "$ray_pid" || true  # a trapped signal interrupts wait: wait again
    done
    hpotk_log "Ray $role stopped"
}

# Slurm's state of a job (squeue's %T: PENDING, RUNNING, COMPLETED, ...); empty once Slurm has
# forgotten it (MinJobAge) or when squeue cannot tell.
hpotk_job_state() {  # hpotk_job_state JOB_ID
    squeue -h -j "$1" -o %T 2>/dev/null | head -1 || true
}

# Whether a job has ended for good: a final state, or Slurm no longer knows it. NODE_FAIL and
# PREEMPTED are not final here: Slurm requeues a --requeue job after those.
hpotk_job_over() {  # hpotk_job_over JOB_ID
    case $(hpotk_job_state "$1") in
        ""|COMPLETED|CANCELLED|FAILED|TIMEOUT|OUT_OF_MEMORY|DEADLINE|BOOT_FAIL) return 0 ;;
        *) return 1 ;;
    esac
}
