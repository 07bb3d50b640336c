package s3read

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/spansink/spansink/sink/spanfile"
)

// The listing and reading against a real store are tested in test/replay,
// against SeaweedFS.

func TestParseURL(t *testing.T) {
	good := map[string]URL{
		"s3://spans":        {Bucket: "spans"},
		"s3://spans/":       {Bucket: "spans"},
		"s3://spans/traces": {Bucket: "spans", Key: "traces"},
		"s3://my.bucket-1/traces/team-a/dbgpt/0/":                                    {Bucket: "my.bucket-1", Key: "traces/team-a/dbgpt/0/"},
		"s3://spans/t/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.3.jsonl.zst": {Bucket: "spans", Key: "t/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.3.jsonl.zst"},
	}
	for input, want := range good {
		got, err := ParseURL(input)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", input, got, err, want)
		}
	}
	bad := map[string]string{
		"s3://":                  "no bucket",
		"s3:///traces":           "no bucket",
		"s3://ab":                "3 to 63",
		"s3://Spans":             "lowercase",
		"s3://spans_1":           "lowercase",
		"s3://-spans":            "start and end",
		"s3://spans//x":          "empty path segment",
		"s3://spans/x?versionId": "no queries",
		"s3://spans/x/*":         "patterns",
		"s3://localhost:9000/b":  "lowercase",
		"/data/spans":            "not an s3:// URL",
	}
	for input, want := range bad {
		if _, err := ParseURL(input); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) error %v, want one saying %q", input, err, want)
		}
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPartitionOf(t *testing.T) {
	cases := []struct {
		prefix      string
		first, last string
	}{
		{"t/ns/x/0/year=2026/", "2026-01-01", "2026-12-31"},
		{"year=2024/month=02/", "2024-02-01", "2024-02-29"},
		{"t/ns/x/0/year=2026/month=12/day=01/", "2026-12-01", "2026-12-01"},
		{"t/ns/x/0/", "", ""},
		{"t/ns/x/0/month=12/", "", ""},           // a month without its year
		{"t/year=2026/month=13/", "", ""},        // no such month
		{"t/year=2026/month=02/day=30/", "", ""}, // no such day
		{"t/year=26/", "", ""},
	}
	for _, tc := range cases {
		first, last, ok := partitionOf(tc.prefix)
		if tc.first == "" {
			if ok {
				t.Errorf("partitionOf(%q) = %s..%s, want no partition", tc.prefix, first, last)
			}
			continue
		}
		if !ok || !first.Equal(day(tc.first)) || !last.Equal(day(tc.last)) {
			t.Errorf("partitionOf(%q) = %s..%s %v, want %s..%s", tc.prefix, first, last, ok, tc.first, tc.last)
		}
	}
}

func TestDayRangeKeepsADayOfSlackEachSide(t *testing.T) {
	since := time.Date(2026, 12, 10, 15, 0, 0, 0, time.UTC)
	until := time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC)
	r := newDayRange(since, until)
	for d, want := range map[string]bool{
		"2026-12-08": false, "2026-12-09": true, "2026-12-10": true, "2026-12-12": true, "2026-12-13": true, "2026-12-14": false,
	} {
		if got := r.contains(day(d)); got != want {
			t.Errorf("day %s: read %v, want %v", d, got, want)
		}
	}
	none, all := r.overlap(day("2026-11-01"), day("2026-11-30"))
	if !none || all {
		t.Errorf("November: none %v all %v, want skipped", none, all)
	}
	none, all = r.overlap(day("2026-12-01"), day("2026-12-31"))
	if none || all {
		t.Errorf("December: none %v all %v, want listed day by day", none, all)
	}
	open := newDayRange(since, time.Time{})
	if none, all := open.overlap(day("2027-01-01"), day("2027-12-31")); none || !all {
		t.Errorf("2027 without --until: none %v all %v, want read whole", none, all)
	}
	if newDayRange(time.Time{}, time.Time{}).bounded() {
		t.Error("no --since/--until bounds the days")
	}
}

func TestOrderIsTheWritersOrder(t *testing.T) {
	names := []string{
		"spans_2026-12-02.jsonl.zst", "spans_2026-12-01.10.jsonl.gz", "spans_2026-12-01.2.jsonl",
		"spans_2026-12-01.jsonl.gz", "spans_2026-12-01.2.jsonl.gz", "spans_2026-12-01.1.jsonl",
	}
	var objects []object
	for _, name := range names {
		_, _, rotated, ok := spanfile.ParseName(name)
		if !ok {
			t.Fatalf("%s is not a rotated name", name)
		}
		objects = append(objects, object{name: "s3://b/p/" + name, rotated: rotated})
	}
	got := strings.Join(order(objects), " ")
	want := "s3://b/p/spans_2026-12-01.jsonl.gz s3://b/p/spans_2026-12-01.1.jsonl s3://b/p/spans_2026-12-01.2.jsonl s3://b/p/spans_2026-12-01.10.jsonl.gz s3://b/p/spans_2026-12-02.jsonl.zst"
	if got != want {
		t.Fatalf("order\n got %s\nwant %s", got, want)
	}
}

func TestListerGroupsByShardAndSkipsOtherKeys(t *testing.T) {
	l := &lister{days: newDayRange(day("2026-12-05"), time.Time{}), seen: map[string]bool{}, groups: map[streamKey]int{}}
	for _, key := range []string{
		"t/ns/x/0/year=2026/month=12/day=05/spans_2026-12-05.jsonl.gz",
		"t/ns/x/1/year=2026/month=12/day=05/spans_2026-12-05.jsonl.gz",
		"t/ns/x/0/year=2026/month=12/day=06/spans_2026-12-06.jsonl.gz",
		"t/ns/x/0/year=2026/month=12/day=06/spans_2026-12-06.jsonl.gz", // found twice
		"t/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.jsonl.gz", // before the range
		"t/ns/x/0/year=2026/month=12/day=06/notes.txt",
		"t/ns/x/0/year=2026/month=12/day=06/spans_2026-12-06.1.jsonl.zst.tmp",
	} {
		l.add("b", key)
	}
	got := l.listing()
	if got.Objects != 3 || len(got.Streams) != 2 || got.SkippedObjects != 1 || got.Ignored != 2 {
		t.Fatalf("listing %+v", got)
	}
	if fmt.Sprint(got.Streams[0]) != "[s3://b/t/ns/x/0/year=2026/month=12/day=05/spans_2026-12-05.jsonl.gz s3://b/t/ns/x/0/year=2026/month=12/day=06/spans_2026-12-06.jsonl.gz]" {
		t.Fatalf("shard 0: %v", got.Streams[0])
	}
}

func TestDescribeSaysWhatTheStoreSaid(t *testing.T) {
	cases := map[string]string{
		"NoSuchBucket":          "the bucket does not exist",
		"AccessDenied":          "access denied",
		"InvalidAccessKeyId":    "refused the credentials",
		"SignatureDoesNotMatch": "refused the credentials",
		"SlowDown":              "SlowDown: store message",
	}
	for code, want := range cases {
		err := describe(&smithy.GenericAPIError{Code: code, Message: "store message"}, "list s3://b/p/")
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "store message") || !strings.HasPrefix(err.Error(), "list s3://b/p/: ") {
			t.Errorf("%s: %q", code, err)
		}
	}
	plain := describe(errors.New("dial tcp: connection refused"), "list s3://b/")
	if plain.Error() != "list s3://b/: dial tcp: connection refused" {
		t.Errorf("%q", plain)
	}
}
