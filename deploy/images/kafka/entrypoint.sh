#!/bin/sh
# Formats the log folder once (KRaft), then runs the broker in the foreground on
# 127.0.0.1:$KAFKA_PORT. The broker logs "Kafka Server started" when it is up.
#
# Alone (the default): a standalone controller, replication 1, a cluster id of its own.
# One node of a cluster: KAFKA_VOTERS (`1@127.0.0.1:<controller port>,2@...`, three or more
# nodes: replication 3, min.insync.replicas 2), KAFKA_NODE_ID (this node's id among them) and
# KAFKA_CLUSTER_ID (the same on every node) — the settings of `cowork-devstack up --brokers 3`.
set -eu
DATA=/var/lib/kafka/data
CONFIG=/tmp/server.properties
VOTERS="${KAFKA_VOTERS:-}"
if [ -n "$VOTERS" ]; then
  : "${KAFKA_NODE_ID:?a node of a cluster (KAFKA_VOTERS) needs KAFKA_NODE_ID}"
  : "${KAFKA_CLUSTER_ID:?a node of a cluster (KAFKA_VOTERS) needs KAFKA_CLUSTER_ID}"
  voter_count="$(printf '%s' "$VOTERS" | tr ',' '\n' | grep -c '@')"
  if [ "$voter_count" -lt 3 ]; then
    echo "KAFKA_VOTERS lists $voter_count nodes: a cluster has three or more (replication 3)" >&2
    exit 2
  fi
  TEMPLATE=/opt/kafka/cluster.properties.template
else
  TEMPLATE=/opt/kafka/server.properties.template
fi
sed -e "s/@PORT@/${KAFKA_PORT}/g" -e "s/@CONTROLLER_PORT@/${KAFKA_CONTROLLER_PORT}/g" \
    -e "s#@DATA@#${DATA}#g" -e "s/@NODE_ID@/${KAFKA_NODE_ID:-1}/g" -e "s#@VOTERS@#${VOTERS}#g" \
    "$TEMPLATE" > "$CONFIG"
java_run() {
  exec_or_run="$1"; shift
  $exec_or_run java "-Xmx${KAFKA_HEAP}" "-Xms${KAFKA_HEAP}" -XX:+UseG1GC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/log4j2.xml \
    -cp '/opt/kafka/libs/*' "$@"
}
# Started again after a stop (`docker start`), the container keeps its folder: no new format.
if [ ! -f "$DATA/meta.properties" ]; then
  if [ -n "$VOTERS" ]; then
    java_run "" kafka.tools.StorageTool format --cluster-id="$KAFKA_CLUSTER_ID" \
      --config="$CONFIG" >/dev/null
  else
    # A cluster id is 16 random bytes in URL-safe base64 without padding; one starting with "-"
    # would read as an option, so draw again.
    cluster_id=-
    while [ "${cluster_id#-}" != "$cluster_id" ]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c 1-22)"
    done
    java_run "" kafka.tools.StorageTool format --standalone --cluster-id="$cluster_id" \
      --config="$CONFIG" >/dev/null
  fi
fi
java_run exec kafka.Kafka "$CONFIG"
