#!/usr/bin/env bash
# arbscan on three hosts: one NATS JetStream node on each (a 3-node cluster, streams with 3 replicas),
# shards on hosts a and b, the journal consumer and the executor on host c. The tests start exactly this
# (tests/test_bus_hosts.py: three network namespaces, each a host, every process started from the systemd
# units this script renders, through this script).
#
# On each host, with the same /etc/arbscan/cluster.env (or ARBSCAN_CLUSTER_ENV=FILE):
#   deploy/cluster.sh nats HOST                 this host's NATS node (HOST: a, b or c)
#   deploy/cluster.sh scan-shard K [ARGS]       arbscan scan --bus URL --shard K/$ARBSCAN_SHARDS ARGS
#   deploy/cluster.sh replay-shard K FILE [ARGS]  arbscan replay FILE --bus URL --shard K/$ARBSCAN_SHARDS ARGS
#   deploy/cluster.sh journal [ARGS]            arbscan journal --bus URL --db $ARBSCAN_DB ARGS
#   deploy/cluster.sh execute STRATEGY [ARGS]   arbscan execute --bus URL --strategy STRATEGY ARGS
#   deploy/cluster.sh url                       the bus URL: every node, nats://IP:PORT,...
#   deploy/cluster.sh units DIR                 write the systemd units of this layout into DIR
#
# cluster.env (shell syntax; every name has a default but ARBSCAN_NODES):
#   ARBSCAN_NODES="a=10.0.0.1 b=10.0.0.2 c=10.0.0.3"   the hosts and their addresses
#   NATS_PORT=4222 NATS_CLUSTER_PORT=6222              client and route ports (the same on every host)
#   NATS_SERVER=nats-server  NATS_STORE=/var/lib/arbscan/nats
#   ARBSCAN=arbscan  ARBSCAN_CONFIG=/etc/arbscan/arbscan.toml  ARBSCAN_DB=/var/lib/arbscan/arbscan.db
#   ARBSCAN_SHARDS=2
# arbscan.toml (the same file on every host) must have [bus] replicas = 3; the URL comes from here (--bus).
set -euo pipefail

env_file="${ARBSCAN_CLUSTER_ENV:-/etc/arbscan/cluster.env}"
if [[ -f "$env_file" ]]; then
    # shellcheck disable=SC1090
    . "$env_file"
fi
: "${ARBSCAN_NODES:?ARBSCAN_NODES is not set (e.g. \"a=10.0.0.1 b=10.0.0.2 c=10.0.0.3\" in $env_file)}"
NATS_PORT="${NATS_PORT:-4222}"
NATS_CLUSTER_PORT="${NATS_CLUSTER_PORT:-6222}"
NATS_SERVER="${NATS_SERVER:-nats-server}"
NATS_STORE="${NATS_STORE:-/var/lib/arbscan/nats}"
ARBSCAN="${ARBSCAN:-arbscan}"
ARBSCAN_CONFIG="${ARBSCAN_CONFIG:-/etc/arbscan/arbscan.toml}"
ARBSCAN_DB="${ARBSCAN_DB:-/var/lib/arbscan/arbscan.db}"
ARBSCAN_SHARDS="${ARBSCAN_SHARDS:-2}"
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

die() { echo "deploy/cluster.sh: $*" >&2; exit 2; }

node_ip() {  # the address of host $1
    local entry
    for entry in $ARBSCAN_NODES; do
        if [[ "${entry%%=*}" == "$1" ]]; then echo "${entry#*=}"; return; fi
    done
    die "host '$1' is not in ARBSCAN_NODES ($ARBSCAN_NODES)"
}

join_urls() {  # every node as scheme://IP:$1, comma-separated
    local entry out=""
    for entry in $ARBSCAN_NODES; do out+="${out:+,}nats://${entry#*=}:$1"; done
    echo "$out"
}

bus_url() { join_urls "$NATS_PORT"; }

arbscan() {  # ARBSCAN may be several words (python -m arbscan.cli): split on purpose
    # shellcheck disable=SC2086
    exec $ARBSCAN "$@"
}

cmd="${1:-}"
[[ -n "$cmd" ]] || die "name what to run: nats HOST, scan-shard K, replay-shard K FILE, journal, execute STRATEGY, url, units DIR"
shift
case "$cmd" in
    nats)
        host="${1:?nats: name this host (a, b or c)}"
        ip="$(node_ip "$host")"
        mkdir -p "$NATS_STORE/$host"
        exec "$NATS_SERVER" -js -sd "$NATS_STORE/$host" --name "nats-$host" -a "$ip" -p "$NATS_PORT" \
            --cluster_name arbscan --cluster "nats://$ip:$NATS_CLUSTER_PORT" \
            --routes "$(join_urls "$NATS_CLUSTER_PORT")"
        ;;
    scan-shard)
        k="${1:?scan-shard: name the shard (1..$ARBSCAN_SHARDS)}"; shift
        arbscan scan --bus "$(bus_url)" --shard "$k/$ARBSCAN_SHARDS" --config "$ARBSCAN_CONFIG" --no-status "$@"
        ;;
    replay-shard)
        k="${1:?replay-shard: name the shard (1..$ARBSCAN_SHARDS)}"
        file="${2:?replay-shard: name the replay file}"; shift 2
        arbscan replay "$file" --bus "$(bus_url)" --shard "$k/$ARBSCAN_SHARDS" --config "$ARBSCAN_CONFIG" \
            --no-progress "$@"
        ;;
    journal)
        arbscan journal --bus "$(bus_url)" --db "$ARBSCAN_DB" --config "$ARBSCAN_CONFIG" "$@"
        ;;
    execute)
        strategy="${1:?execute: name the strategy}"; shift
        arbscan execute --bus "$(bus_url)" --strategy "$strategy" --config "$ARBSCAN_CONFIG" "$@"
        ;;
    url)
        bus_url
        ;;
    units)
        dir="${1:?units: name the directory to write them into}"
        mkdir -p "$dir"
        unit() {  # name, description, ExecStart arguments
            cat > "$dir/$1" <<UNIT
[Unit]
Description=$2
After=network-online.target
Wants=network-online.target

[Service]
Environment=ARBSCAN_CLUSTER_ENV=$env_file
ExecStart=$self $3
Restart=always
KillSignal=SIGTERM
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
UNIT
        }
        unit arbscan-nats@.service "arbscan's NATS node on host %i" "nats %i"
        unit arbscan-shard@.service "arbscan scan shard %i of $ARBSCAN_SHARDS" "scan-shard %i"
        unit arbscan-journal.service "arbscan journal consumer" "journal"
        unit arbscan-execute@.service "arbscan paper executor, strategy %i" "execute %i"
        echo "wrote $dir/arbscan-{nats@,shard@,journal,execute@}.service"
        ;;
    *)
        die "unknown command '$cmd' (nats, scan-shard, replay-shard, journal, execute, url, units)"
        ;;
esac
