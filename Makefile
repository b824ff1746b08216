# Cowork — entry points. `make run` and `make test` work from a fresh clone: both call setup.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := uv
PYTEST_ARGS ?=

.PHONY: help setup helm test-tools browser-tools image images image-test stack run down status logs test test-fast test-cluster test-containers partner-example kube-test lint bench token

help:
	@echo "make run     start Kafka, PostgreSQL, every service and demo data (detached)"
	@echo "make test    install what is missing, then run every test on real Kafka + PostgreSQL"
	@echo "make down    stop the services and the stack"
	@echo "make test-cluster  the broker-fault tests on a 3-broker Kafka cluster of their own"
	@echo "             (started and stopped by the target; beside a running make stack)"
	@echo "make bench   throughput/latency benchmarks against raw aiokafka/asyncpg"
	@echo "make lint    ruff + mypy (strict on shared/)"
	@echo "make image   build the services' container image (deploy/images; needs root here)"
	@echo "make images  build every image: services, Kafka, PostgreSQL, SMTP sink (needs root)"
	@echo "make test-containers  every test with Kafka and PostgreSQL in containers, the"
	@echo "             broker-fault tests on 3 Kafka containers, then the whole stack from"
	@echo "             its images (needs root)"
	@echo "make image-test  run each service from that image against the local stack"
	@echo "make logs    follow the services' logs"

setup:
	@deploy/local/scripts/setup.sh

helm:
	@deploy/local/scripts/install-helm.sh

# promtool (Debian's prometheus package) for tests/test_monitoring.py: `promtool check rules` and
# `promtool test rules` on the chart's alert rules. Without it that test fails, it never skips.
test-tools:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
	  && DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
	  || echo "promtool not installed (apt-get install prometheus, as root): tests/test_monitoring.py will fail"

# Debian's chromium for tests/browser (Playwright drives it through executable_path: the
# machine has no Internet for Playwright's own browser download). Without it those tests fail,
# they never skip.
browser-tools:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
	  && DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "chromium not installed (apt-get install chromium, as root): tests/browser will fail"

image:
	@deploy/images/build-local.sh

images: setup
	@deploy/images/build-local.sh --all

# The same suite with Kafka and PostgreSQL started by testcontainers from those images, then the
# broker-fault tests on a Kafka cluster of three containers (COWORK_KAFKA_BROKERS=3; recovery
# times printed at the end), then the tests that start every service from its image
# (deploy/tests).
DOCKER_SOCK := unix://$(CURDIR)/.devstack/docker/docker.sock
CONTAINERS_RECOVERY := $(CURDIR)/.devstack/recovery-containers.txt
test-containers: images helm test-tools browser-tools
	@COWORK_TEST_INFRA=containers DOCKER_HOST=$(DOCKER_SOCK) $(UV) run pytest $(PYTEST_ARGS)
	@rm -f $(CONTAINERS_RECOVERY); COWORK_TEST_INFRA=containers COWORK_KAFKA_BROKERS=3 \
	COWORK_CLUSTER_RECOVERY_FILE=$(CONTAINERS_RECOVERY) DOCKER_HOST=$(DOCKER_SOCK) \
	$(UV) run pytest -m cluster tests/test_kafka_cluster.py $(PYTEST_ARGS); \
	status=$$?; echo "recovery times (containers):"; cat $(CONTAINERS_RECOVERY) 2>/dev/null; exit $$status
	@COWORK_TEST_INFRA=containers DOCKER_HOST=$(DOCKER_SOCK) $(UV) run pytest deploy/tests $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory partner-example

# The chart installed into a real kube-apiserver (built once from the Go module proxy; long on
# 2 cores) over Debian's etcd: the server admits every object. No kubelet: pods do not run.
kube-test: helm
	@command -v etcd >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }
	@deploy/kube/build-kube-apiserver.sh
	@$(UV) run pytest deploy/kube $(PYTEST_ARGS)

# The example partner project, in its own environment, against Cowork in containers.
partner-example: images
	@cd examples/partner-tests && DOCKER_HOST=$(DOCKER_SOCK) $(UV) run --quiet pytest $(PYTEST_ARGS)

image-test: stack
	@$(UV) run pytest deploy/images/test_image.py $(PYTEST_ARGS)

stack: setup
	@$(UV) run cowork-devstack up

run: stack
	@$(UV) run cowork-devstack services-up
	@echo
	@echo "Tokens for the local stack: uv run cowork token --role staff"
	@echo "                            uv run cowork token --role member --sub <member id>"
	@echo "Logs: .devstack/services/*.log (make logs); stop everything: make down"

down:
	@$(UV) run cowork-devstack down

status:
	@$(UV) run cowork-devstack status

logs:
	@tail -n 50 -F .devstack/services/*.log

test: stack helm test-tools browser-tools
	@$(UV) run pytest $(PYTEST_ARGS)

test-fast: stack helm test-tools browser-tools
	@$(UV) run pytest -m "not slow" $(PYTEST_ARGS)

# The broker-fault tests (tests/test_kafka_cluster.py, marked `cluster`, left out of make test)
# on a 3-node KRaft cluster and a PostgreSQL of their own, beside whatever `make stack` runs:
# state in .devstack/cluster, Kafka on 29092-29097, PostgreSQL on 25432. The cluster is stopped
# afterwards whatever the outcome; the recovery times measured are printed at the end.
CLUSTER_DIR := $(CURDIR)/.devstack/cluster
CLUSTER_ENV := COWORK_STATE_DIR=$(CLUSTER_DIR) COWORK_KAFKA_PORT=29092 COWORK_PG_PORT=25432 \
	COWORK_KAFKA_HEAP=512m COWORK_KAFKA_LIBS=$(CURDIR)/.devstack/kafka/libs
test-cluster: setup
	@trap '$(CLUSTER_ENV) $(UV) run cowork-devstack down' EXIT; \
	$(CLUSTER_ENV) $(UV) run cowork-devstack up --brokers 3 && \
	rm -f $(CLUSTER_DIR)/recovery.txt && \
	set -a && source $(CLUSTER_DIR)/stack.env && set +a && \
	COWORK_TEST_INFRA=external $(UV) run pytest -m cluster tests/test_kafka_cluster.py $(PYTEST_ARGS); \
	status=$$?; echo "recovery times:"; cat $(CLUSTER_DIR)/recovery.txt 2>/dev/null; exit $$status

lint: setup
	@$(UV) run ruff check shared deploy services tests testkit devtools examples
	@$(UV) run hadolint --config deploy/images/.hadolint.yaml deploy/images/Dockerfile deploy/images/*/Dockerfile
	@$(UV) run mypy -p cowork.shared -p cowork.devtools

# The benchmarks run against the local stack, with its development tokens.
bench: export COWORK_ENV = local
bench: stack
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || echo "wrk not installed: the booking benchmark skips its wrk run"
	@$(UV) run python shared/bench/bench_events.py
	@$(UV) run python shared/bench/bench_events_split.py
	@$(UV) run python shared/bench/bench_consumer.py
	@$(UV) run python services/booking/bench/bench_booking.py
	@$(UV) run python services/notifications/bench/bench_notifications.py
	@$(UV) run python services/vouchers/bench/bench_vouchers.py
	@$(UV) run python services/community/bench/bench_registrations.py

token: setup
	@$(UV) run cowork token --role $(or $(ROLE),staff) $(if $(SUB),--sub $(SUB))
