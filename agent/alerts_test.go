package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"edgetail/alerts"
)

const alertSources = `sources:
  - name: api
    files: [/var/log/api.log]
  - name: web-1
    files: [/var/log/web1.log]
  - name: host
    metrics: {}
  - name: j
    journal: {}
`

// edgetail check finds each problem of a rule at its line, without ever
// quoting a webhook's URL.
func TestAlertProblemsAtTheirLines(t *testing.T) {
	yaml := alertSources + `alerts:
  - name: Bad Name
    sources: [nope, "web-*", "db-*", host]
    level: loud
    re: "(unclosed"
    window: 0s
    cooldown: 10ms
    group_by: colour
    webhook:
      url: ftp://secret-host/SECRETPATH
      format: template
      template: "{{.Rule"
  - name: j-only
    sources: [api]
    unit: nginx
    webhook:
      url: https://hooks.example/x
      template: "{{.Nope}}"
      headers: {"Bad Header": "x", X-Token: "${UNCLOSED"}
alerts_url: notaurl
`
	_, err := ParseConfig([]byte(yaml), "t.yaml")
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{
		"t.yaml:11: alerts[0].name",
		`t.yaml:12: alerts[0].sources[0]: unknown source "nope"`,
		`t.yaml:12: alerts[0].sources[2]: "db-*" matches no log source`,
		`t.yaml:12: alerts[0].sources[3]: "host" is a metrics source`,
		"t.yaml:13: alerts[0].level",
		"t.yaml:14: alerts[0].re: bad regular expression",
		"t.yaml:15: alerts[0].window: must be at least 1s",
		"t.yaml:16: alerts[0].cooldown: must be at least 1s",
		"t.yaml:17: alerts[0].group_by",
		"t.yaml:19: alerts[0].webhook.url: not an http or https URL",
		"t.yaml:21: alerts[0].webhook.template:",
		`t.yaml:22: alerts[1]: unit and identifier narrow journal sources; "api"`,
		"t.yaml:27: alerts[1].webhook.template:",
		"t.yaml:28: alerts[1].webhook.headers",
		"t.yaml:29: alerts_url",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("problems lack %q:\n%s", w, strings.ReplaceAll(msg, "; ", "\n"))
		}
	}
	if strings.Contains(msg, "SECRETPATH") || strings.Contains(msg, "secret-host") {
		t.Fatalf("a problem quotes the URL: %s", msg)
	}
}

func TestAlertConfigDefaultsAndLists(t *testing.T) {
	yaml := alertSources + `alerts:
  - name: api-errors
    sources: [api, "web-*"]
    level: error
    webhook: {url: "https://hooks.example/T0/B0", headers: {Authorization: "Bearer ${TOKEN}"}}
  - name: j
    sources: [j]
    unit: "nginx, sshd.socket"
    cooldown: 30s
    threshold: 5
    window: 10s
    webhook: {url: "http://127.0.0.1:9/x", format: slack}
`
	c, err := ParseConfig([]byte(yaml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Alerts[1].rule()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Filter.Units, ",") != "nginx.service,sshd.socket" || r.Cooldown != 30*time.Second || r.Threshold != 5 || r.Window != 10*time.Second || r.Webhook.Format != alerts.FormatSlack {
		t.Fatalf("rule %+v", r)
	}
	if r0, _ := c.Alerts[0].rule(); r0.Filter.Level.String() != "error" || !r0.Matches("web-1") || r0.Matches("j") {
		t.Fatalf("rule %+v", r0)
	}
}
