package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"edgetail/hub"
	"edgetail/logging"
	"edgetail/yamlconf"
)

func hubUsage(w io.Writer) {
	fmt.Fprint(w, `usage: edgetail hub [-config FILE] [-listen ADDR] [-nats URL[,URL...]] [-log-level LEVEL]
serves the fleet view: GET /stream?hosts=&sources=, /api/hosts, the UI
`)
}

// hubCmd runs `edgetail hub` until SIGTERM or SIGINT.
func hubCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgetail hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { hubUsage(stderr) }
	cfgPath := fs.String("config", "", "YAML config file")
	listen := fs.String("listen", "", "listen address, host:port")
	natsURL := fs.String("nats", "", "NATS servers, comma-separated")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	data := []byte{}
	name := "flags"
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "edgetail hub:", err)
			return 1
		}
		data, name = b, *cfgPath
	}
	// Flags beat the file; the whole is validated once, after them.
	cfg, err := hub.Decode(data, name)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *natsURL != "" {
		cfg.Fleet.NATS = strings.Split(*natsURL, ",")
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		printConfigError(stderr, &yamlconf.Error{Problems: probs})
		return 1
	}
	log, _, err := logging.New(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := hub.Run(ctx, cfg, log, nil); err != nil {
		log.Error("hub stopped", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}
