package fleet

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ConnOptions say how to reach NATS. Every zero value means "none".
type ConnOptions struct {
	URLs  []string // servers of one cluster; the client fails over among them
	Name  string   // the connection's name, shown by the server
	Creds string   // a credentials file (JWT and seed)
	CA    string   // a CA bundle to verify the servers with
	Cert  string   // a client certificate and its key, for TLS client auth
	Key   string
	// Logger hears of disconnects and reconnects; nil: nothing.
	Logger *zap.Logger
}

// Connect opens a connection that keeps retrying for ever: it returns at
// once even when no server answers yet, so that an agent starts and serves
// locally whether NATS is up or not.
func Connect(o ConnOptions) (*nats.Conn, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("no NATS server given")
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", zap.String("server", c.ConnectedUrlRedacted()))
		}),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.CA != "" {
		opts = append(opts, nats.RootCAs(o.CA))
	}
	if o.Cert != "" {
		opts = append(opts, nats.ClientCert(o.Cert, o.Key))
	}
	nc, err := nats.Connect(strings.Join(o.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	return nc, nil
}

// StreamOptions describe the stream an agent creates when it is missing.
// Every zero value means the default in brackets.
type StreamOptions struct {
	Name          string        // the stream, also the subjects' first token [EDGETAIL]
	MaxAge        time.Duration // [24h]
	MaxBytes      int64         // [1 GiB]
	MaxPerSubject int64         // per host, source and level, so one noisy host cannot evict the rest [1,000,000]
	Replicas      int           // [1]
	Duplicates    time.Duration // window in which Nats-Msg-Id deduplicates re-sends [2m]
}

func (o *StreamOptions) setDefaults() {
	if o.Name == "" {
		o.Name = DefaultStream
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.MaxPerSubject <= 0 {
		o.MaxPerSubject = 1_000_000
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
}

// EnsureStream creates the stream when it does not exist. An existing
// stream is left exactly as it is: its retention and replicas are the
// operator's once it exists.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (created bool, err error) {
	o.setDefaults()
	if _, err := js.Stream(ctx, o.Name); err == nil {
		return false, nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, fmt.Errorf("look up stream %s: %w", o.Name, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              o.Name,
		Subjects:          []string{o.Name + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            o.MaxAge,
		MaxBytes:          o.MaxBytes,
		MaxMsgsPerSubject: o.MaxPerSubject,
		Replicas:          o.Replicas,
		Duplicates:        o.Duplicates,
		Storage:           jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return false, nil // another agent was quicker
	}
	if err != nil {
		return false, fmt.Errorf("create stream %s: %w", o.Name, err)
	}
	return true, nil
}

// NewJetStream returns the JetStream context the publisher and the hub
// use: acknowledgements that do not come within 2 s count as
// failed, so that a publisher sends again rather than wait for ever.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(2*time.Second),
		jetstream.WithPublishAsyncMaxPending(65536))
}

// TLSConfig is the TLS of a NATS connection, as configured (fleet.tls).
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidStreamName reports whether s can name a JetStream stream here.
func ValidStreamName(s string) bool { return streamName.MatchString(s) }
