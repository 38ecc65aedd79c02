package web

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// NewServer returns the http.Server of a streaming server: header and idle
// timeouts, and no WriteTimeout, which would cut every stream (streams set
// a deadline per write instead). cert, when not nil, turns TLS on and is
// asked for the certificate on every handshake, so that a reload can
// replace it.
func NewServer(h http.Handler, log *zap.Logger, cert func() *tls.Certificate) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	if cert != nil {
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return cert(), nil
			},
		}
	}
	return srv
}

// Serve runs srv on ln, with TLS when it has a TLS config, until Shutdown.
func Serve(srv *http.Server, ln net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}
