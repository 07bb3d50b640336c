// Package livereload runs the spansink binary under load and changes its
// mounted config file the way the kubelet does, checking that the new
// settings take effect without a restart, a refused request, or a lost or
// duplicated span.
package livereload

import (
	"testing"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }
