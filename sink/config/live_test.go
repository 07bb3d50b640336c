package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// leafPaths walks t and returns the JSON path of every leaf field: every
// field that is not itself a struct (Duration is an int64).
func leafPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		path := prefix + jsonName(f)
		if f.Type.Kind() == reflect.Struct {
			paths = append(paths, leafPaths(f.Type, path+".")...)
			continue
		}
		paths = append(paths, path)
	}
	return paths
}

func TestEveryFieldIsLiveOrRestart(t *testing.T) {
	leaves := leafPaths(reflect.TypeOf(Config{}), "")
	if len(leaves) < 30 {
		t.Fatalf("found only %d leaf fields; the walk is broken: %v", len(leaves), leaves)
	}
	for _, path := range leaves {
		live, restart := slices.Contains(LiveFields, path), slices.Contains(RestartFields, path)
		switch {
		case !live && !restart:
			t.Errorf("%s is in neither config.LiveFields nor config.RestartFields: decide whether a running collector applies it", path)
		case live && restart:
			t.Errorf("%s is in both config.LiveFields and config.RestartFields", path)
		}
	}
	for _, list := range [][]string{LiveFields, RestartFields} {
		for _, path := range list {
			if !slices.Contains(leaves, path) {
				t.Errorf("%s is listed but is no leaf field of Config", path)
			}
		}
		sorted := slices.Clone(list)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(list) {
			t.Errorf("a list holds a path twice: %v", list)
		}
	}
}

// changeLeaf sets the leaf at path in c to a value different from its
// current one.
func changeLeaf(t *testing.T, c *Config, path string) {
	t.Helper()
	f, err := fieldByPath(reflect.ValueOf(c).Elem(), path)
	if err != nil {
		t.Fatal(err)
	}
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Int, reflect.Int64:
		f.SetInt(f.Int() + 7)
	case reflect.String:
		f.SetString(f.String() + "x")
	default:
		t.Fatalf("%s: no way to change a %s", path, f.Kind())
	}
}

func TestRestartPartIgnoresLiveFieldsOnly(t *testing.T) {
	base := Default()
	base.Auth.BearerTokenFile = "/etc/tokens"
	base.TLS = TLS{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key"}
	for _, path := range LiveFields {
		t.Run(path, func(t *testing.T) {
			changed := base
			changeLeaf(t, &changed, path)
			if reflect.DeepEqual(changed, base) {
				t.Fatal("the change did not change the config")
			}
			if !reflect.DeepEqual(changed.RestartPart(), base.RestartPart()) {
				t.Errorf("changing live field %s changed RestartPart", path)
			}
			if got := base.RestartChanges(changed); len(got) != 0 {
				t.Errorf("changing live field %s reported restart changes %v", path, got)
			}
			if got := base.LiveChanges(changed); !slices.Equal(got, []string{path}) {
				t.Errorf("LiveChanges = %v, want [%s]", got, path)
			}
		})
	}
	for _, path := range RestartFields {
		t.Run(path, func(t *testing.T) {
			changed := base
			changeLeaf(t, &changed, path)
			if reflect.DeepEqual(changed.RestartPart(), base.RestartPart()) {
				t.Errorf("changing restart field %s left RestartPart the same", path)
			}
			if got := base.RestartChanges(changed); !slices.Equal(got, []string{path}) {
				t.Errorf("RestartChanges = %v, want [%s]", got, path)
			}
		})
	}
}

func TestRestartPartZeroesLiveFieldsAndRenders(t *testing.T) {
	c := Default()
	c.Batch.FlushInterval = Duration(250 * time.Millisecond)
	part := c.RestartPart()
	if part.Batch != (Batch{}) || part.Delivery != (Delivery{}) || part.ShutdownTimeout != 0 {
		t.Errorf("live fields not zeroed: %+v %+v %s", part.Batch, part.Delivery, part.ShutdownTimeout.Std())
	}
	if part.Storage.Path != c.Storage.Path || part.Limits.MaxRequestBytes != c.Limits.MaxRequestBytes {
		t.Errorf("restart fields changed: %+v", part.Storage)
	}
	if c.Batch.Size != DefaultBatchSize {
		t.Error("RestartPart changed its receiver")
	}
	if _, err := part.Render(); err != nil {
		t.Errorf("render the restart part: %v", err)
	}
}
