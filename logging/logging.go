// Package logging builds edgetail's own logger (zap), the same for the agent
// and the hub.
package logging

import (
	"fmt"
	"os"

	"github.com/mattn/go-isatty"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ParseLevel reads a log_level value.
func ParseLevel(s string) (zapcore.Level, error) {
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// New builds the daemon's own logger: a console encoder on a terminal,
// JSON otherwise (journald, files), ISO8601 times, and no sampling, because
// zap's production sampling drops repeated warnings, which are exactly the
// ones an operator needs to count.
func New(level string) (*zap.Logger, zap.AtomicLevel, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, zap.AtomicLevel{}, err
	}
	atom := zap.NewAtomicLevelAt(lv)
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if isatty.IsTerminal(os.Stderr.Fd()) {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), atom)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))), atom, nil
}
