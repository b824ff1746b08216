"""Cowork's Grafana dashboards, generated: an overview of every service and one dashboard per
service, written as JSON into the chart (deploy/helm/cowork/files/dashboards/), which ships
each as a ConfigMap for Grafana's dashboard sidecar (metrics.dashboards in values.yaml).

    uv run python deploy/monitoring/dashboards.py          # exit 1 when the committed JSON is stale
    uv run python deploy/monitoring/dashboards.py --write  # regenerate it

tests/test_monitoring.py fails when the committed files differ from what this prints, and when
a panel names a metric that no running service exports. Panels read the replicas' gauges
measured from the same database or broker with max (never sum), and add up counters."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "helm" / "cowork" / "files" / "dashboards"
SERVICES = ("membership", "booking", "vouchers", "notifications", "community")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24
FIVE_XX = 'status=~"5.."'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""


@dataclass
class Row:
    title: str
    panels: list[Panel] = field(default_factory=list)


def _q(expr: str, legend: str) -> tuple[Query, ...]:
    return (Query(expr, legend),)


def _requests(sel: str, by: str) -> Row:
    legend = "{{" + by.split(",")[-1].strip() + "}}"
    return Row("Requests: rate, latency, errors", [
        Panel("Requests per second", _q(
            f"sum by ({by}) (rate(cowork_http_request_seconds_count{{{sel}}}[5m]))", legend),
            "reqps"),
        Panel("Latency p95", _q(
            f"histogram_quantile(0.95, sum by ({by}, le) "
            f"(rate(cowork_http_request_seconds_bucket{{{sel}}}[5m])))", legend), "s",
            "95% of requests answered within this time (CoworkHttpSlow: over 1 s for 15 min)"),
        Panel("5xx answers (share of requests)", _q(
            f"sum by ({by}) (rate(cowork_http_request_seconds_count{{{_and(sel, FIVE_XX)}}}[5m]))"
            f" / sum by ({by}) (rate(cowork_http_request_seconds_count{{{sel}}}[5m]))", legend),
            "percentunit", "CoworkHttpErrors: over 5% for 10 min"),
    ])


def _and(sel: str, extra: str) -> str:
    return f"{sel}, {extra}" if sel else extra


def _outbox(sel: str) -> Row:
    return Row("Outbox: what waits to reach Kafka", [
        Panel("Outbox backlog (rows)", _q(
            f"max by (service) (cowork_outbox_backlog{{{sel}}})", "{{service}}"),
            description="Rows committed and not yet published"),
        Panel("Oldest unpublished row", _q(
            f"max by (service) (cowork_outbox_oldest_pending_seconds{{{sel}}})", "{{service}}"),
            "s", "CoworkOutboxStalled: over 5 min for 5 min"),
        Panel("Kafka reachable; relay leading", (
            Query(f"min by (service) (cowork_kafka_up{{{sel}}})", "{{service}} Kafka up"),
            Query(f"max by (service) (cowork_outbox_relay_leading{{{sel}}})",
                  "{{service}} relay leading")),
            description="0 = down. One replica per service holds the relay lock"),
    ])


def _consumers(sel: str) -> Row:
    return Row("Consumers: lag and dead letters", [
        Panel("Consumer lag (records)", _q(
            f"sum by (service, consumer) (max by (service, consumer, topic, partition) "
            f"(cowork_consumer_lag{{{sel}}}))", "{{service}}/{{consumer}}"),
            description="CoworkConsumerLag: over 1000 for 15 min"),
        Panel("Dead letters (last hour)", _q(
            f"sum by (service, consumer) (increase(cowork_dlq_records_total{{{sel}}}[1h]))",
            "{{service}}/{{consumer}}"), description="CoworkDeadLetters"),
        Panel("Keys held and records parked behind a dead letter", (
            Query(f"max by (service, consumer) (cowork_consumer_held_keys{{{sel}}})",
                  "{{service}}/{{consumer}} keys held"),
            Query(f"max by (service, consumer) (cowork_consumer_parked_records{{{sel}}})",
                  "{{service}}/{{consumer}} records parked")),
            description="CoworkKeysHeld: a key held for 30 min"),
    ])


def _jobs(sel: str) -> Row:
    return Row("Scheduled jobs: failed and late", [
        Panel("Failed jobs", _q(
            f"max by (service, job) (cowork_scheduled_jobs_failed{{{sel}}})",
            "{{service}} {{job}}"), description="CoworkScheduledJobsFailed"),
        Panel("Most overdue job", _q(
            f"max by (service, job) (cowork_scheduled_jobs_overdue_seconds{{{sel}}})",
            "{{service}} {{job}}"), "s", "CoworkScheduledJobsLate: over 10 min for 5 min"),
        Panel("Job runs per minute by outcome", _q(
            f"sum by (service, kind, outcome) (rate(cowork_scheduled_jobs_total{{{sel}}}[5m])) * 60",
            "{{service}} {{kind}} {{outcome}}")),
    ])


def _deliveries() -> Row:
    sel = 'service="notifications"'
    return Row("Notifications: mail queue and webhooks", [
        Panel("Queue by channel and status", _q(
            f"max by (channel, status) (cowork_notifications_queue{{{sel}}})",
            "{{channel}} {{status}}"),
            description="pending: waiting or retrying; dead: given up (CoworkMailQueueBacklog)"),
        Panel("Deliveries given up (last hour)", _q(
            f'max by (channel) (delta(cowork_notifications_queue{{{sel}, status="dead"}}[1h]))',
            "{{channel}}"), description="Webhook and mail failures (CoworkDeliveriesGivenUp)"),
        Panel("Most overdue delivery", _q(
            f"max by (channel) (cowork_notifications_overdue_seconds{{{sel}}})", "{{channel}}"),
            "s", "CoworkDeliveriesOverdue: over 10 min for 10 min"),
    ])


def _events_detail(sel: str) -> Row:
    return Row("Events: applied, ignored, handler time", [
        Panel("Events applied per second by type", _q(
            f"sum by (consumer, type) (rate(cowork_events_applied_total{{{sel}}}[5m]))",
            "{{consumer}} {{type}}"), "ops"),
        Panel("Duplicates and stale events per second", (
            Query(f"sum by (consumer) (rate(cowork_events_duplicate_total{{{sel}}}[5m]))",
                  "{{consumer}} duplicate"),
            Query(f"sum by (consumer) (rate(cowork_events_stale_total{{{sel}}}[5m]))",
                  "{{consumer}} stale")), "ops"),
        Panel("Handler time p95", _q(
            f"histogram_quantile(0.95, sum by (consumer, le) "
            f"(rate(cowork_event_handler_seconds_bucket{{{sel}}}[5m])))", "{{consumer}}"), "s"),
        Panel("Outbox published per second; publish batch p95", (
            Query(f"sum(rate(cowork_outbox_published_total{{{sel}}}[5m]))", "published"),
            Query(f"histogram_quantile(0.95, sum by (le) "
                  f"(rate(cowork_outbox_publish_batch_seconds_bucket{{{sel}}}[5m])))",
                  "batch p95 (s)"))),
        Panel("Outbox rows parked (last hour)", _q(
            f"sum(increase(cowork_outbox_parked_total{{{sel}}}[1h]))", "parked"),
            description="CoworkOutboxRowsParked"),
        Panel("Rows purged by retention (last hour)", _q(
            f"sum by (table) (increase(cowork_purged_rows_total{{{sel}}}[1h]))", "{{table}}")),
    ])


def overview() -> list[Row]:
    return [_requests("", "service"), _outbox(""), _consumers(""), _jobs(""), _deliveries()]


def service_rows(service: str) -> list[Row]:
    sel = f'service="{service}"'
    rows = [_requests(sel, "service, route"), _outbox(sel), _consumers(sel),
            _events_detail(sel), _jobs(sel)]
    return [*rows, _deliveries()] if service == "notifications" else rows


def _panel_json(panel: Panel, ident: int, x: int, y: int, w: int) -> dict[str, Any]:
    return {
        "id": ident, "type": "timeseries", "title": panel.title,
        "description": panel.description, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE,
                     "expr": q.expr.replace("{}", ""),  # `name{}` reads as just `name`
                     "legendFormat": q.legend} for i, q in enumerate(panel.queries)],
    }


def _panels(rows: list[Row]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        panels.append({"id": len(panels) + 1, "type": "row", "title": row.title,
                       "collapsed": False, "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
                       "panels": []})
        y += 1
        per_line = 3 if len(row.panels) % 3 == 0 else 2
        w = WIDTH // per_line
        for i, panel in enumerate(row.panels):
            panels.append(_panel_json(panel, len(panels) + 1, (i % per_line) * w,
                                      y + (i // per_line) * 8, w))
        y += 8 * -(-len(row.panels) // per_line)
    return panels


def dashboard(uid: str, title: str, rows: list[Row]) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "tags": ["cowork"], "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "label": "Data source",
                                 "type": "datasource", "query": "prometheus",
                                 "current": {}, "hide": 0, "refresh": 1}]},
        "links": [{"title": "Cowork", "type": "dashboards", "tags": ["cowork"],
                   "asDropdown": True, "includeVars": True, "keepTime": True}],
        "annotations": {"list": []},
        "panels": _panels(rows),
    }


def generated() -> dict[str, str]:
    """File name -> the JSON text the chart ships."""
    boards = {"cowork-overview.json": dashboard("cowork-overview", "Cowork: overview",
                                                overview())}
    for service in SERVICES:
        boards[f"cowork-{service}.json"] = dashboard(
            f"cowork-{service}", f"Cowork: {service}", service_rows(service))
    return {name: json.dumps(board, indent=2, sort_keys=True) + "\n"
            for name, board in boards.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the JSON into the chart")
    args = parser.parse_args(argv)
    boards = generated()
    if args.write:
        OUT.mkdir(parents=True, exist_ok=True)
        for stale in set(p.name for p in OUT.glob("*.json")) - set(boards):
            (OUT / stale).unlink()
        for name, text in boards.items():
            (OUT / name).write_text(text)
        print(f"wrote {len(boards)} dashboards to {OUT}")
        return 0
    committed = {p.name: p.read_text() for p in OUT.glob("*.json")}
    if committed != boards:
        print("the dashboards in the chart are stale: run "
              "`uv run python deploy/monitoring/dashboards.py --write`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
