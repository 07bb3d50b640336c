package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/objectstore"
)

// Every sealed file lands in the bucket under the documented key, with
// its SHA-256, exactly once, although the collector is SIGKILLed again and
// again while it uploads: a restarted collector finds what the store
// confirmed (in its manifest, or in the bucket when the kill came between
// the two) and uploads the rest.
func TestEveryFileUploadedOnceAcrossKills(t *testing.T) {
	f := newFixture(t, nil)
	f.start()
	f.setAddr(f.proc.HTTPAddr)
	stop := make(chan struct{})
	f.send(stop, 4, 0)
	for range 4 {
		time.Sleep(1500 * time.Millisecond)
		f.setAddr("")
		f.proc.Kill()
		f.start()
		f.setAddr(f.proc.HTTPAddr)
	}
	time.Sleep(time.Second)
	close(stop)
	f.running.Wait()
	f.waitCaughtUp(time.Minute)

	sealed := f.sealedOnVolume()
	if len(sealed) < 5 {
		t.Fatalf("only %d files were sealed; the test needs rotations during the kills", len(sealed))
	}
	objects := f.objects()
	loc := objectstore.Location{Prefix: "traces", Namespace: "team-a", Sink: "dbgpt", Shard: 1}
	for _, name := range sealed {
		key, err := loc.Key(name)
		if err != nil {
			t.Fatal(err)
		}
		obj, ok := objects[key]
		if !ok {
			t.Errorf("sealed file %s is not in the bucket at %s", name, key)
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if obj.size != int64(len(data)) || obj.sha256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s in the bucket: %d bytes, SHA-256 %s; on the volume %d bytes, %x", key, obj.size, obj.sha256, len(data), sum)
		}
		if got := f.get(key); string(got) != string(data) {
			t.Errorf("%s in the bucket differs from the file on the volume", key)
		}
		if !strings.HasPrefix(key, "traces/team-a/dbgpt/1/year=") {
			t.Errorf("key %s does not follow the layout", key)
		}
	}
	if len(objects) != len(sealed) {
		t.Errorf("the bucket holds %d objects for %d sealed files", len(objects), len(sealed))
	}
	for name, n := range uploadsLogged(t, f.log) {
		if n != 1 {
			t.Errorf("%s was uploaded %d times", name, n)
		}
	}
	f.expectEverySpanStored(objects)
	if got := f.proc.MetricSum("spansink_upload_pending_files"); got != 0 {
		t.Errorf("spansink_upload_pending_files = %v after catching up", got)
	}
	t.Logf("%d files sealed and uploaded once each across 4 kills; %d spans acknowledged", len(sealed), len(f.sender.acknowledged()))
}

// With the store down, files stay on the volume (deleteAfterUpload waits
// for a confirmation that cannot come), ingest goes on, and the collector
// says why in its status and metrics; once the store is back everything
// arrives and only then leaves the volume.
func TestStoreOutageDelaysButLosesNothing(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.ObjectStore.DeleteAfterUpload = true })
	f.start()
	f.setAddr(f.proc.HTTPAddr)
	stop := make(chan struct{})
	f.send(stop, 2, 5*time.Millisecond)
	time.Sleep(2 * time.Second)
	f.waitCaughtUp(30 * time.Second)

	if err := f.store.Stop(); err != nil {
		t.Fatal(err)
	}
	ackedAtStop := len(f.sender.acknowledged())
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := f.uploadStatus()
		if err != nil {
			t.Fatal(err)
		}
		if status.LastError != "" && status.PendingFiles >= 3 {
			if !strings.Contains(status.LastError, bucket) {
				t.Errorf("the upload error does not name the bucket: %s", status.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outage never showed: %+v", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(f.sender.acknowledged()) <= ackedAtStop {
		t.Fatal("ingest stopped while the store was down")
	}
	if got := f.proc.MetricSum("spansink_upload_failing"); got != 1 {
		t.Errorf("spansink_upload_failing = %v during the outage", got)
	}
	pendingOnVolume := f.sealedOnVolume()
	if len(pendingOnVolume) < 3 {
		t.Fatalf("only %v on the volume during the outage", pendingOnVolume)
	}

	if err := f.store.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	f.running.Wait()
	// Backoff may have grown to tens of seconds during the outage.
	f.waitCaughtUp(2 * time.Minute)
	objects := f.objects()
	loc := objectstore.Location{Prefix: "traces", Namespace: "team-a", Sink: "dbgpt", Shard: 1}
	for _, name := range pendingOnVolume {
		key, _ := loc.Key(name)
		if _, ok := objects[key]; !ok {
			t.Errorf("%s, sealed during the outage, never arrived", name)
		}
	}
	if left := f.sealedOnVolume(); len(left) != 0 {
		t.Errorf("deleteAfterUpload left %v on the volume after the store confirmed everything", left)
	}
	f.expectEverySpanStored(objects)
	if got := f.proc.MetricSum("spansink_upload_failing"); got != 0 {
		t.Errorf("spansink_upload_failing = %v after recovery", got)
	}
}

// Wrong credentials: the store refuses (403), the collector reports it
// and keeps the files; a corrected Secret file is read again and uploads
// resume by themselves.
func TestWrongCredentialsReportedThenRecovered(t *testing.T) {
	f := newFixture(t, nil)
	writeFile(t, f.secret, "not-the-secret")
	f.start()
	f.setAddr(f.proc.HTTPAddr)
	stop := make(chan struct{})
	f.send(stop, 2, 5*time.Millisecond)
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := f.uploadStatus()
		if err != nil {
			t.Fatal(err)
		}
		if status.LastError != "" && status.PendingFiles > 0 {
			if !strings.Contains(status.LastError, "403") && !strings.Contains(status.LastError, "SignatureDoesNotMatch") && !strings.Contains(status.LastError, "AccessDenied") {
				t.Errorf("the error does not say the store refused the credentials: %s", status.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wrong credentials never showed: %+v", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := f.proc.MetricSum("spansink_upload_failing"); got != 1 {
		t.Errorf("spansink_upload_failing = %v with wrong credentials", got)
	}
	if objects := f.objects(); len(objects) != 0 {
		t.Fatalf("the store took %d objects with a wrong secret", len(objects))
	}

	writeFile(t, f.secret, f.store.SecretKey)
	close(stop)
	f.running.Wait()
	f.waitCaughtUp(2 * time.Minute)
	objects := f.objects()
	if len(objects) != len(f.sealedOnVolume()) {
		t.Errorf("%d objects for %d sealed files after the fix", len(objects), len(f.sealedOnVolume()))
	}
	f.expectEverySpanStored(objects)
}

// At low traffic the active file is rotated once its first line is
// maxDelay old, so its lines reach the store within about that bound.
func TestMaxDelayBoundsTheWait(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.ObjectStore.MaxDelay = config.Duration(2 * time.Second)
		c.Storage.Rotation.MaxSizeBytes = 0
	})
	f.start()
	f.setAddr(f.proc.HTTPAddr)
	ids, body := f.sender.batch(5)
	sent := time.Now()
	if !f.sender.post(f.addr(), body) {
		t.Fatal("the collector refused the batch")
	}
	f.sender.ack(ids)
	var objects map[string]object
	for {
		objects = f.objects()
		if len(objects) > 0 {
			break
		}
		if time.Since(sent) > 30*time.Second {
			t.Fatal("the batch never reached the store")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waited := time.Since(sent)
	f.expectEverySpanStored(objects)
	var keys []string
	for key := range objects {
		keys = append(keys, key)
	}
	if len(keys) != 1 || !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, ".jsonl.zst") }) {
		t.Errorf("objects %v, want one compressed file", keys)
	}
	t.Logf("5 spans reached the store %s after they were sent (maxDelay 2s)", waited.Round(10*time.Millisecond))
}
