package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// alertsDir holds the alerting rules and their promtool tests.
var alertsDir = filepath.Join("..", "..", "deploy", "prometheus")

type alertRule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

// alertRules reads deploy/prometheus/alerts.yml.
func alertRules(t *testing.T) []alertRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(alertsDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestAlertRulesUseRegisteredMetrics: every metric a rule queries is one the registry
// serves, every label a rule matches, groups or joins by is one of those metrics' (or a
// label Prometheus adds at the scrape), and the rules cover the conditions operators are
// to be told of.
func TestAlertRulesUseRegisteredMetrics(t *testing.T) {
	fams, err := exercised(t).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{"up": nil} // up: Prometheus's own, per scrape target
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[f.GetName()] = append(labels[f.GetName()], lp.GetName())
			}
		}
		if _, ok := labels[f.GetName()]; !ok || f.GetType() == dto.MetricType_HISTOGRAM {
			labels[f.GetName()] = append(labels[f.GetName()], "")
		}
	}
	if _, ok := labels["exactsync_sync_lag_seconds"]; !ok {
		t.Fatal("the exercised metrics serve no sync lag: the test would check nothing")
	}
	// A family served without per-division series still has the label, empty.
	scrape := []string{"instance", "job"}
	metricRe := regexp.MustCompile(`\b([a-z_][a-z0-9_]*)\s*(\{[^}]*\})?(\[[^\]]*\])?`)
	keywords := []string{"sum", "min", "max", "by", "on", "group_left", "and", "increase", "rate", "humanizeDuration"}
	groupingRe := regexp.MustCompile(`\b(?:by|on|group_left)\s*\(([^)]*)\)`)
	matcherRe := regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)\s*"`)

	rules := alertRules(t)
	for _, r := range rules {
		var used []string
		for _, m := range metricRe.FindAllStringSubmatch(r.Expr, -1) {
			name := m[1]
			if slices.Contains(keywords, name) {
				continue
			}
			if _, ok := labels[name]; !ok {
				if strings.HasPrefix(name, "exactsync_") || m[2] != "" || m[3] != "" {
					t.Errorf("%s queries %s, which the registry does not serve", r.Alert, name)
				}
				continue
			}
			used = append(used, name)
		}
		if len(used) == 0 {
			t.Errorf("%s queries no metric: %s", r.Alert, r.Expr)
			continue
		}
		known := slices.Clone(scrape)
		for _, u := range used {
			known = append(known, labels[u]...)
		}
		var named []string
		for _, g := range groupingRe.FindAllStringSubmatch(r.Expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					named = append(named, l)
				}
			}
		}
		for _, m := range matcherRe.FindAllStringSubmatch(r.Expr, -1) {
			named = append(named, m[1])
		}
		for _, l := range named {
			if !slices.Contains(known, l) {
				t.Errorf("%s uses label %q, which none of %v has", r.Alert, l, used)
			}
		}
	}

	var names []string
	for _, r := range rules {
		names = append(names, r.Alert)
	}
	want := []string{"ExactsyncReauthRequired", "ExactsyncRefreshTokenIdle", "ExactsyncEntityRefused", "ExactsyncDayBudgetSpent",
		"ExactsyncSyncLag", "ExactsyncRecordsQuarantined", "ExactsyncWebhooksSilent", "ExactsyncRunDown"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("alerts.yml has no %s; it has %v", w, names)
		}
	}
}

// TestAlertRulesAreTested: alerts_test.yml checks each alert both firing and silent.
func TestAlertRulesAreTested(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(alertsDir, "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	if !slices.Equal(f.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("alerts_test.yml tests %v, want [alerts.yml]", f.RuleFiles)
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, r := range alertRules(t) {
		if !firing[r.Alert] {
			t.Errorf("no test of %s firing", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("no test of %s silent", r.Alert)
		}
	}
}

// TestAlertRulesPromtool runs promtool's checks and unit tests of the rules, where
// promtool is installed (Debian's package prometheus).
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian: apt-get install prometheus); the rules' unit tests did not run")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = alertsDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
