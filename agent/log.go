package agent

import (
	"fmt"
	"os"

	"github.com/mattn/go-isatty"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func parseLogLevel(s string) (zapcore.Level, error) {
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// NewLogger builds the agent's own logger: a console encoder on a terminal,
// JSON otherwise (journald, files), ISO8601 times, and no sampling, because
// zap's production sampling drops repeated warnings, which are exactly the
// ones an operator needs to count.
func NewLogger(level string) (*zap.Logger, zap.AtomicLevel, error) {
	lv, err := parseLogLevel(level)
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
