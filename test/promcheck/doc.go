// Package promcheck keeps the monitoring that ships with spansink (the
// Grafana dashboard, the PrometheusRules) honest about the metrics it reads.
// It scrapes real running processes (a collector driven with real traffic,
// the manager) into a Catalog of the series names and label names they
// export, and checks every PromQL expression against it with Prometheus's
// own parser: a renamed metric or label breaks a test instead of a panel or
// an alert in someone's cluster. It also runs the real `promtool test
// rules` on alerting rules.
//
// It is for tests only: nothing outside tests imports it.
package promcheck
