#!/usr/bin/env python3
"""Writes dashboards/tiktok-gateway.json (the file Grafana provisions) from the panels below.

The JSON is committed; scripts/deploy-check fails when it differs from what this prints, so edit
the panels here and run `python3 deploy/grafana/dashboard.py`. Python's standard library only.
"""

import json
import os
import sys

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
# The outcomes that say Zernio is unwell, as in deploy/prometheus/alerts.yml.
UPSTREAM_ERRORS = 'outcome=~"upstream_(timeout|unavailable|unauthorized|forbidden|rate_limited)"'


def target(expr, legend, ref):
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(title, exprs, unit="short", kind="timeseries", description="", stack=False):
    """exprs: [(PromQL, legend)]."""
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(exprs)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    return p


def quantiles(metric, by, selector=""):
    return [
        (f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{selector}[{RATE}])))",
         f"p{int(q * 100)} {{{{{by}}}}}")
        for q in (0.5, 0.95, 0.99)
    ]


ROWS = [
    ("Traffic", [
        panel("Requests by route", [(
            f'sum by (route, method) (rate(tiktok_gateway_http_requests_total{{route=~"$route"}}[{RATE}]))',
            "{{method}} {{route}}")], unit="reqps"),
        panel("Answers by status", [(
            f'sum by (status) (rate(tiktok_gateway_http_requests_total{{route=~"$route"}}[{RATE}]))',
            "{{status}}")], unit="reqps", stack=True),
        panel("Latency by route", quantiles(
            "tiktok_gateway_http_request_duration_seconds", "route", '{route=~"$route"}'), unit="s",
            description="Time from receiving a request to its answer (p50, p95, p99)."),
        panel("Requests by tenant and class", [(
            f'sum by (tenant, class) (rate(tiktok_gateway_tenant_requests_total{{tenant=~"$tenant"}}[{RATE}]))',
            "{{tenant}} {{class}}")], unit="reqps"),
        panel("5xx ratio", [(
            f'sum(rate(tiktok_gateway_http_requests_total{{status=~"5.."}}[{RATE}])) '
            f'/ sum(rate(tiktok_gateway_http_requests_total[{RATE}]))', "5xx")],
            unit="percentunit", description="Alert TiktokGatewayHigh5xxRatio: above 2% for 10 minutes."),
    ]),
    ("Refusals", [
        panel("Refusals by reason", [(
            f'sum by (code) (rate(tiktok_gateway_refusals_total{{tenant=~"$tenant"}}[{RATE}]))',
            "{{code}}")], unit="reqps", stack=True,
            description="Every refused request by its problem code (401, 403, 409, 422, 429, ...)."),
        panel("Refusals by tenant", [(
            f'sum by (tenant, code) (rate(tiktok_gateway_refusals_total{{tenant=~"$tenant"}}[{RATE}]))',
            "{{tenant}} {{code}}")], unit="reqps"),
        panel("Limit refusals (429) by kind", [(
            f'sum by (tenant, kind) (rate(tiktok_gateway_limit_refusals_total{{tenant=~"$tenant"}}[{RATE}]))',
            "{{tenant}} {{kind}}")], unit="reqps",
            description="kind: tenant (its rate), key (one key's), upstream (the shared Zernio pool), daily (an account's 24 h budget)."),
    ]),
    ("Posts", [
        panel("Posts by kind, mode and outcome", [(
            f'sum by (kind, mode, outcome) (rate(tiktok_gateway_posts_total[{RATE}]))',
            "{{kind}} {{mode}} {{outcome}}")], unit="reqps"),
        panel("Posts by tenant", [(
            f'sum by (tenant, kind, outcome) (rate(tiktok_gateway_tenant_posts_total{{tenant=~"$tenant"}}[{RATE}]))',
            "{{tenant}} {{kind}} {{outcome}}")], unit="reqps"),
    ]),
    ("Upstream (Zernio)", [
        panel("Calls by operation and outcome", [(
            f'sum by (endpoint, outcome) (rate(tiktok_gateway_upstream_requests_total[{RATE}]))',
            "{{endpoint}} {{outcome}}")], unit="reqps"),
        panel("Errors by operation", [(
            f'sum by (endpoint, outcome) (rate(tiktok_gateway_upstream_requests_total{{{UPSTREAM_ERRORS}}}[{RATE}]))',
            "{{endpoint}} {{outcome}}")], unit="reqps",
            description="Timeouts, 5xx, 401/403 and 429 from Zernio. Alert TiktokGatewayUpstreamErrors."),
        panel("Upstream latency by operation", quantiles(
            "tiktok_gateway_upstream_request_duration_seconds", "endpoint"), unit="s"),
        panel("Upstream budget left", [(
            "sum by (instance) (tiktok_gateway_upstream_budget_remaining)", "{{instance}}")],
            description="Units of the shared Zernio pool ([upstream] requests_per_minute) left now."),
        panel("Upstream paused", [(
            "max by (instance) (tiktok_gateway_upstream_paused)", "{{instance}}")],
            description="1 while a 429 from Zernio pauses every call. Alert TiktokGatewayUpstreamPaused."),
        panel("Daily budgets left by account", [(
            "min by (account, lane) (tiktok_gateway_daily_budget_remaining)", "{{account}} {{lane}}")],
            description="Only with [metrics] per_account = true. Alert TiktokGatewayDailyBudgetLow at 2."),
    ]),
    ("Webhooks", [
        panel("Received from Zernio", [(
            f'sum by (event, outcome) (rate(tiktok_gateway_webhooks_received_total[{RATE}]))',
            "{{event}} {{outcome}}")], unit="reqps"),
        panel("Deliveries to tenants", [(
            f'sum by (outcome) (rate(tiktok_gateway_webhook_deliveries_total[{RATE}]))',
            "{{outcome}}")], unit="reqps", stack=True),
        panel("Outbox backlog", [(
            "max(tiktok_gateway_webhook_outbox_depth)", "pending")]),
        panel("Oldest pending delivery", [(
            "max(tiktok_gateway_webhook_outbox_oldest_pending_seconds)", "age")], unit="s",
            description="Alert TiktokGatewayWebhookBacklog above 30 minutes."),
    ]),
    ("Read model and reconciler", [
        panel("Post reads by answer", [(
            f'sum by (answer) (rate(tiktok_gateway_post_reads_total[{RATE}]))', "{{answer}}")],
            unit="reqps", stack=True),
        panel("Record changes by source", [(
            f'sum by (source) (rate(tiktok_gateway_post_record_changes_total[{RATE}]))', "{{source}}")],
            unit="reqps", stack=True),
        panel("Reconciler reads", [(
            f'sum by (outcome) (rate(tiktok_gateway_reconcile_reads_total[{RATE}]))', "{{outcome}}")],
            unit="reqps", stack=True),
        panel("Reconciler lag", [
            ("max(tiktok_gateway_reconcile_lag_seconds)", "lag"),
        ], unit="s", description="How overdue the oldest due post is."),
        panel("Posts due for reconciliation", [
            ("max(tiktok_gateway_reconcile_due_posts)", "due"),
        ]),
    ]),
    ("Audit", [
        panel("Audit entries by action", [(
            f'sum by (action) (rate(tiktok_gateway_audit_entries_total[{RATE}]))', "{{action}}")],
            unit="reqps", stack=True),
    ]),
    ("Process", [
        panel("Replicas up", [('sum(up{job="tiktok-gateway"})', "up")], kind="stat"),
        panel("Build", [("count by (version) (tiktok_gateway_build_info)", "{{version}}")], kind="stat"),
        panel("CPU", [(
            f"rate(tiktok_gateway_process_cpu_seconds_total[{RATE}])", "{{instance}}")], unit="percentunit"),
        panel("Resident memory", [(
            "tiktok_gateway_process_resident_memory_bytes", "{{instance}}")], unit="bytes"),
        panel("Open file descriptors", [(
            "tiktok_gateway_process_open_fds", "{{instance}}")]),
    ]),
]


def variable(name, query, label):
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": name}, "definition": query,
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def dashboard():
    panels, y, next_id = [], 0, 1
    for title, row in ROWS:
        panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x = 0
        for p in row:
            width = 8 if p["type"] == "stat" else 12
            if x + width > 24:
                x, y = 0, y + 8
            panels.append(dict(p, id=next_id, gridPos={"h": 8, "w": width, "x": x, "y": y}))
            next_id += 1
            x += width
        y += 8
    return {
        "uid": "tiktok-gateway",
        "title": "tiktok-gateway",
        "description": "Traffic, refusals, Zernio, budgets, webhooks, reconciler and audit of tiktok-gateway. Runbook: docs/operations.md.",
        "tags": ["tiktok-gateway"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {"selected": True, "text": "Prometheus", "value": "prometheus"}},
            variable("tenant", "label_values(tiktok_gateway_tenant_requests_total, tenant)", "Tenant"),
            variable("route", "label_values(tiktok_gateway_http_requests_total, route)", "Route"),
        ]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def render():
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards", "tiktok-gateway.json")
    if sys.argv[1:] == ["--check"]:
        with open(out, encoding="utf-8") as f:
            if f.read() != render():
                sys.exit(f"{out} differs from deploy/grafana/dashboard.py: run python3 deploy/grafana/dashboard.py")
    else:
        with open(out, "w", encoding="utf-8") as f:
            f.write(render())
