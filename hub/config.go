package hub

import (
	"fmt"
	"net"
	"path"
	"slices"
	"time"

	"edgetail/fleet"
	"edgetail/logging"
	"edgetail/web"
	"edgetail/yamlconf"
)

// Config is the YAML of `edgetail hub`: the agent's keys that make sense
// for a hub, with fleet: naming NATS. Zero values are the defaults of
// fleet.HubOptions, except Listen (127.0.0.1:7080) and LogLevel (info).
type Config struct {
	Listen   string         `yaml:"listen"`
	LogLevel string         `yaml:"log_level"`
	Insecure bool           `yaml:"insecure"`
	Fleet    FleetConfig    `yaml:"fleet"`
	Stream   StreamConfig   `yaml:"stream"`
	Auth     web.AuthConfig `yaml:"auth"`
	TLS      web.TLSConfig  `yaml:"tls"`
	CORS     web.CORSConfig `yaml:"cors"`

	doc *yamlconf.Doc
}

// FleetConfig says where the hub reads the fleet.
type FleetConfig struct {
	NATS   []string        `yaml:"nats"`
	Stream string          `yaml:"stream"`
	Creds  string          `yaml:"creds"`
	TLS    fleet.TLSConfig `yaml:"tls"`
}

// StreamConfig tunes the hub's streams and caps; each zero value is
// fleet.HubOptions' default.
type StreamConfig struct {
	Heartbeat       time.Duration `yaml:"heartbeat"`
	Retry           time.Duration `yaml:"retry"`
	MaxClients      int           `yaml:"max_clients"`
	MaxClientsPerIP int           `yaml:"max_clients_per_ip"`
	ClientBuffer    int           `yaml:"client_buffer"`
	ReplayLines     int           `yaml:"replay_lines"` // per shared view
}

// ParseConfig parses and validates a hub config; name is used in
// messages.
func ParseConfig(data []byte, name string) (*Config, error) {
	c, err := Decode(data, name)
	if err != nil {
		return nil, err
	}
	if probs := c.Validate(); len(probs) > 0 {
		return nil, &yamlconf.Error{Problems: probs}
	}
	return c, nil
}

// Decode parses a hub config strictly (unknown keys are errors) and sets
// defaults, without validating values: the CLI applies its flags between
// the two.
func Decode(data []byte, name string) (*Config, error) {
	c := &Config{}
	doc, probs, err := yamlconf.Decode(data, name, c)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, &yamlconf.Error{Problems: probs}
	}
	c.doc = doc
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7080"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	return c, nil
}

// Validate returns every problem of the config, located in its file.
func (c *Config) Validate() []yamlconf.Problem {
	var probs []yamlconf.Problem
	add := func(key, format string, args ...any) { probs = append(probs, c.doc.Problem(key, format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "want host:port, got %q", c.Listen)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		add("log_level", "%v", err)
	}
	if len(c.Fleet.NATS) == 0 {
		add("fleet.nats", "list at least one NATS server (nats://host:4222), or give -nats")
	}
	if c.Fleet.Stream != "" && !fleet.ValidStreamName(c.Fleet.Stream) {
		add("fleet.stream", "%q is not a stream name ([A-Za-z0-9_-], at most 64)", c.Fleet.Stream)
	}
	if (c.Fleet.TLS.Cert == "") != (c.Fleet.TLS.Key == "") {
		add("fleet.tls", "cert and key go together")
	}
	st := c.Stream
	if st.Heartbeat != 0 && st.Heartbeat < 10*time.Millisecond {
		add("stream.heartbeat", "must be at least 10ms")
	}
	for key, v := range map[string]int{"stream.max_clients": st.MaxClients, "stream.max_clients_per_ip": st.MaxClientsPerIP,
		"stream.client_buffer": st.ClientBuffer, "stream.replay_lines": st.ReplayLines} {
		if v < 0 {
			add(key, "must be >= 0")
		}
	}
	// Token sources and hosts are globs on a hub: any name is known.
	for i, t := range c.Auth.Tokens {
		for j, g := range append(slices.Clone(t.Sources), t.Hosts...) {
			if _, err := path.Match(g, ""); err != nil {
				add(fmt.Sprintf("auth.tokens[%d]", i), "bad glob %q (entry %d): %v", g, j, err)
			}
		}
	}
	probs = append(probs, web.ValidateAuth(c.doc, c.Auth, func(string) bool { return true })...)
	probs = append(probs, web.ValidateExposure(c.doc, c.Listen, c.Auth, c.TLS, c.Insecure)...)
	return probs
}
