#!/bin/sh
# Formats the log folder once (KRaft, standalone controller), then runs the broker in the
# foreground on 127.0.0.1:$KAFKA_PORT. The broker logs "Kafka Server started" when it is up.
set -eu
DATA=/var/lib/kafka/data
CONFIG=/tmp/server.properties
sed -e "s/@PORT@/${KAFKA_PORT}/g" -e "s/@CONTROLLER_PORT@/${KAFKA_CONTROLLER_PORT}/g" \
    -e "s#@DATA@#${DATA}#g" /opt/kafka/server.properties.template > "$CONFIG"
java_run() {
  exec_or_run="$1"; shift
  $exec_or_run java "-Xmx${KAFKA_HEAP}" "-Xms${KAFKA_HEAP}" -XX:+UseG1GC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/log4j2.xml \
    -cp '/opt/kafka/libs/*' "$@"
}
if [ ! -f "$DATA/meta.properties" ]; then
  # A cluster id is 16 random bytes in URL-safe base64 without padding; one starting with "-"
  # would read as an option, so draw again.
  cluster_id=-
  while [ "${cluster_id#-}" != "$cluster_id" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c 1-22)"
  done
  java_run "" kafka.tools.StorageTool format --standalone --cluster-id="$cluster_id" \
    --config="$CONFIG" >/dev/null
fi
java_run exec kafka.Kafka "$CONFIG"
