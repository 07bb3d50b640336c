package access

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/config"
)

// Options say what Open loads.
type Options struct {
	// Auth names the bearer token file; empty turns authentication off.
	Auth config.Auth
	// TLS names the certificate, key and client CA files; empty serves
	// plain text.
	TLS config.TLS
	// Metrics counts refusals and reloads; nil counts into unregistered
	// metrics.
	Metrics *Metrics
	// Logger receives reloads and their failures.
	Logger logr.Logger
	// PollInterval is how often the files are read again without a file
	// system event; zero means DefaultPollInterval.
	PollInterval time.Duration
}

// Credentials are the loaded, watched access material of a collector.
type Credentials struct {
	auth    *Authenticator
	tls     *ServerTLS
	watcher *watcher
}

// Open loads the files that opts name and watches them for changes. A
// file that is missing or holds nothing usable is an error here, at start;
// later the previous material stays in force instead.
func Open(opts Options) (*Credentials, error) {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	c := &Credentials{}
	var sources []source
	if opts.Auth.Enabled() {
		c.auth = newAuthenticator(opts.Auth.BearerTokenFile, opts.Metrics)
		sources = append(sources, c.auth)
	}
	if opts.TLS.Enabled() {
		c.tls = newServerTLS(opts.TLS.CertFile, opts.TLS.KeyFile, opts.TLS.ClientCAFile)
		sources = append(sources, c.tls.sources()...)
	}
	if len(sources) == 0 {
		return c, nil
	}
	ws := make([]*watched, len(sources))
	for i, s := range sources {
		ws[i] = &watched{source: s}
		if _, err := ws[i].load(); err != nil {
			return nil, fmt.Errorf("load the %s: %w", kindNames[s.kind()], err)
		}
	}
	c.watcher = newWatcher(ws, opts.PollInterval, opts.Logger, opts.Metrics)
	return c, nil
}

// Authenticator returns the token checker, or nil when authentication is
// off.
func (c *Credentials) Authenticator() *Authenticator { return c.auth }

// ServerTLS returns the TLS material, or nil when the ports serve plain
// text.
func (c *Credentials) ServerTLS() *ServerTLS { return c.tls }

// Close stops watching the files; the material in force stays usable.
func (c *Credentials) Close() error {
	if c.watcher != nil {
		c.watcher.close()
	}
	return nil
}
