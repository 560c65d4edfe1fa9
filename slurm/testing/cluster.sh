#!/usr/bin/env bash
# A real two-node Slurm on this one machine, for hpotk's Slurm tests and CI.
#
#   bash slurm/testing/cluster.sh up       install (Debian packages) and start; idempotent, fast when up
#   bash slurm/testing/cluster.sh status   exit 0 when both nodes are usable
#   bash slurm/testing/cluster.sh down     stop the daemons and remove the namespaces
#
# Layout: munged and slurmctld run in the host's namespaces; each node (hpotk-n1, hpotk-n2) is a
# slurmd in its own network namespace (own IP on a bridge) and UTS namespace (own hostname), so
# job steps see a node with its own address and name, as on a real cluster. Where network
# namespaces cannot be made, the nodes fall back to 127.0.0.11/127.0.0.12 with distinct slurmd
# ports (HPOTK_SLURM_NETNS=0 forces this); `status` prints which mode is running.
#
# Must run as root. Nothing is accounted; no cgroups (proctrack/linuxproc, task/none).
set -euo pipefail

STATE=${HPOTK_SLURM_STATE:-/var/tmp/hpotk-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by hpotk slurm/testing/cluster.sh"
NODES=(hpotk-n1 hpotk-n2)
BRIDGE=hpotkbr0
SUBNET=10.77.0
CPUS_PER_NODE=${HPOTK_SLURM_CPUS:-2}

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_ip() {  # node_ip INDEX(0-based) MODE
    if [[ $2 == netns ]]; then echo "$SUBNET.$((11 + $1))"; else echo "127.0.0.$((11 + $1))"; fi
}

alive() {  # alive PIDFILE: the process named in PIDFILE is running
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurm/munge missing and no apt-get to install them"
    log "installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    log "starting munged"
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged
    else
        munged --force
    fi
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged did not start"
}

# --- network namespaces ---------------------------------------------------------------------

netns_up() {  # returns non-zero when namespaces cannot be made here
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge 2>/dev/null || return 1
    fi
    ip addr show dev "$BRIDGE" | grep -q "inet $SUBNET.1/" || ip addr add "$SUBNET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    local i ns
    for i in "${!NODES[@]}"; do
        ns=${NODES[$i]}
        if ! ip netns list | grep -qw "^$ns"; then
            ip netns add "$ns" || return 1
        fi
        if ! ip link show "veth-$ns" >/dev/null 2>&1; then
            ip link add "veth-$ns" type veth peer name eth0 netns "$ns" || return 1
            ip link set "veth-$ns" master "$BRIDGE"
        fi
        ip link set "veth-$ns" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr show dev eth0 | grep -q "inet $(node_ip "$i" netns)/" \
            || ip -n "$ns" addr add "$(node_ip "$i" netns)/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

netns_down() {
    local ns
    for ns in "${NODES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
        ip link del "veth-$ns" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
}

hosts_entries() {  # /etc/hosts lines so the node names resolve everywhere
    local mode=$1 i tmp
    tmp=$(mktemp)
    grep -v "$MARK" /etc/hosts >"$tmp" || true
    for i in "${!NODES[@]}"; do
        printf '%s %s %s\n' "$(node_ip "$i" "$mode")" "${NODES[$i]}" "$MARK" >>"$tmp"
    done
    printf '%s %s %s\n' "$(ctl_ip "$mode")" "hpotk-ctl" "$MARK" >>"$tmp"
    cat "$tmp" >/etc/hosts  # in place: /etc/hosts may be a bind mount
    rm -f "$tmp"
}

ctl_ip() { if [[ $1 == netns ]]; then echo "$SUBNET.1"; else echo 127.0.0.1; fi; }

# --- slurm ------------------------------------------------------------------------------------

write_conf() {
    local mode=$1 host i
    host=$(hostname -s)
    if [[ -e $CONF ]] && ! grep -q "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    mkdir -p "$STATE/ctld" /etc/slurm
    {
        echo "$MARK (mode $mode)"
        echo "ClusterName=hpotktest"
        echo "SlurmctldHost=$host($(ctl_ip "$mode"))"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "MpiDefault=none"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core"
        echo "SchedulerType=sched/backfill"
        echo "SchedulerParameters=sched_interval=2"
        echo "ReturnToService=2"
        echo "JobRequeue=1"
        echo "MinJobAge=300"
        echo "KillWait=10"
        echo "InactiveLimit=0"
        echo "SlurmdTimeout=60"
        echo "StateSaveLocation=$STATE/ctld"
        echo "SlurmctldPidFile=$STATE/ctld/slurmctld.pid"
        echo "SlurmctldLogFile=$STATE/ctld/slurmctld.log"
        echo "SlurmdSpoolDir=$STATE/%n/spool"
        echo "SlurmdPidFile=$STATE/%n/slurmd.pid"
        echo "SlurmdLogFile=$STATE/%n/slurmd.log"
        for i in "${!NODES[@]}"; do
            local port=""
            [[ $mode == netns ]] || port=" Port=$((6818 + i))"
            echo "NodeName=${NODES[$i]} NodeAddr=$(node_ip "$i" "$mode") NodeHostname=${NODES[$i]}$port CPUs=$CPUS_PER_NODE RealMemory=1000 State=UNKNOWN"
        done
        echo "PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF.new"
    if ! cmp -s "$CONF.new" "$CONF"; then
        mv "$CONF.new" "$CONF"
        return 0  # changed
    fi
    rm -f "$CONF.new"
    return 1
}

start_ctld() {
    if alive "$STATE/ctld/slurmctld.pid"; then return; fi
    log "starting slurmctld"
    slurmctld
    for _ in $(seq 100); do
        scontrol ping 2>/dev/null | grep -q UP && return
        sleep 0.2
    done
    die "slurmctld did not answer; see $STATE/ctld/slurmctld.log"
}

start_node() {  # start_node INDEX MODE
    local i=$1 mode=$2 name=${NODES[$1]}
    mkdir -p "$STATE/$name/spool"
    if alive "$STATE/$name/slurmd.pid"; then return; fi
    log "starting slurmd $name ($mode, $(node_ip "$i" "$mode"))"
    if [[ $mode == netns ]]; then
        nsenter --net="/run/netns/$name" unshare --uts sh -c 'hostname "$1" && exec slurmd -N "$1"' sh "$name"
    else
        slurmd -N "$name"
    fi
}

wait_nodes_idle() {
    local state
    for _ in $(seq 150); do
        state=$(sinfo -h -N -o '%N %t' 2>/dev/null | sort -u)
        # usable: idle, mixed or allocated (jobs of an earlier test may still run)
        if [[ $(grep -cE ' (idle|mix|alloc)$' <<<"$state") -eq ${#NODES[@]} ]]; then return; fi
        if grep -qE ' (down|drain|drng|fail)\*?$' <<<"$state"; then
            scontrol update NodeName="$(IFS=,; echo "${NODES[*]}")" State=RESUME 2>/dev/null || true
        fi
        sleep 0.2
    done
    die "nodes not idle: $(tr '\n' ' ' <<<"$state"); see $STATE/*/slurmd.log"
}

current_mode() { sed -n "s|^$MARK (mode \(.*\))$|\1|p" "$CONF" 2>/dev/null || true; }

up() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (starts daemons, network namespaces)"
    install_packages
    start_munge
    local mode=netns
    [[ ${HPOTK_SLURM_NETNS:-1} == 0 ]] && mode=loopback
    if [[ $mode == netns ]] && ! netns_up; then
        log "network namespaces unavailable here; falling back to 127.0.0.x nodes"
        netns_down
        mode=loopback
    fi
    hosts_entries "$mode"
    if write_conf "$mode"; then
        # a new configuration: restart whatever runs with the old one
        stop_daemons
        if [[ $mode == netns ]]; then netns_up; else netns_down; fi
    fi
    start_ctld
    local i
    for i in "${!NODES[@]}"; do start_node "$i" "$mode"; done
    wait_nodes_idle
    log "up ($mode): $(sinfo -h -N -o '%N=%t' | tr '\n' ' ')"
}

stop_pidfile() {
    local pidfile=$1 pid
    alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop_daemons() {
    local name
    for name in "${NODES[@]}"; do stop_pidfile "$STATE/$name/slurmd.pid"; done
    stop_pidfile "$STATE/ctld/slurmctld.pid"
}

down() {
    stop_daemons
    netns_down
    local tmp
    tmp=$(mktemp)
    grep -v "$MARK" /etc/hosts >"$tmp" && cat "$tmp" >/etc/hosts
    rm -f "$tmp"
    log "down (munged left running; $CONF and $STATE kept)"
}

status() {
    local mode
    mode=$(current_mode)
    [[ -n $mode ]] || { echo "not configured"; return 1; }
    alive "$STATE/ctld/slurmctld.pid" || { echo "slurmctld not running"; return 1; }
    echo "mode: $mode"
    sinfo -N -o '%N %t %c %o' || return 1
    local name
    for name in "${NODES[@]}"; do
        alive "$STATE/$name/slurmd.pid" || { echo "slurmd $name not running"; return 1; }
    done
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
