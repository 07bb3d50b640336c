package s3read

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/sink/spanfile"
)

// Store reads span objects with an S3 client (objectstore.NewClient).
type Store struct {
	Client *s3.Client
}

// Listing is what Resolve found.
type Listing struct {
	// Streams are the span objects' names (s3://bucket/key), one stream per
	// shard and writer, each in the order written.
	Streams [][]string
	// Objects is the number of span objects in Streams.
	Objects int
	// SkippedPartitions counts year, month or day partitions that were
	// outside the time range and so neither listed nor read.
	SkippedPartitions int
	// SkippedObjects counts span objects left out because their day is
	// outside the time range (found by a listing of a wider prefix).
	SkippedObjects int
	// Ignored counts objects whose keys do not follow the layout.
	Ignored int
}

// Resolve lists the span objects under the URLs, reading only the day
// partitions that can hold spans that started between since and until
// (zero: open; see PartitionSlack), and groups them into one stream per
// shard (objectstore.ParsedKey.Shard) and writer, in the naming order of
// package spanfile: by day, then rotation number. An object found under two
// URLs is read once.
func (st *Store) Resolve(ctx context.Context, urls []URL, since, until time.Time) (Listing, error) {
	l := &lister{store: st, days: newDayRange(since, until), seen: map[string]bool{}, groups: map[streamKey]int{}}
	for _, u := range urls {
		if err := l.resolve(ctx, u); err != nil {
			return Listing{}, err
		}
	}
	return l.listing(), nil
}

// lister accumulates one Resolve.
type lister struct {
	store   *Store
	days    dayRange
	seen    map[string]bool
	groups  map[streamKey]int
	objects [][]object
	out     Listing
}

// streamKey identifies one writer's objects: its shard's prefix and its
// active file's name, as reader.Streams groups files by directory and name.
type streamKey struct{ bucket, shard, active string }

// object is a span object with its name taken apart.
type object struct {
	name    string
	rotated spanfile.Rotated
	active  string // the active file's name, <base><ext>
}

// resolve lists one URL: one object, or the objects under a prefix.
func (l *lister) resolve(ctx context.Context, u URL) error {
	if _, ok := objectstore.ParseKey(u.Key); ok && !strings.HasSuffix(u.Key, "/") {
		if err := l.store.checkObject(ctx, u.Bucket, u.Key); err != nil {
			return err
		}
		l.add(u.Bucket, u.Key)
		return nil
	}
	prefix := u.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		// A prefix names whole segments: s3://b/traces is traces/..., not
		// also traces-old/...
		prefix += "/"
	}
	if err := l.walk(ctx, u.Bucket, prefix); err != nil {
		return describe(err, "list "+objectName(u.Bucket, prefix))
	}
	return nil
}

// walk lists the objects under prefix. Without a time range one flat
// listing is cheapest; with one, it goes down the tree a level at a time
// (Delimiter "/"), so that a partition outside the range is skipped by its
// name alone, and lists a partition wholly inside the range flat.
func (l *lister) walk(ctx context.Context, bucket, prefix string) error {
	if !l.days.bounded() {
		return l.listFlat(ctx, bucket, prefix)
	}
	if first, last, ok := partitionOf(prefix); ok {
		none, all := l.days.overlap(first, last)
		switch {
		case none:
			l.out.SkippedPartitions++
			return nil
		case all:
			return l.listFlat(ctx, bucket, prefix)
		}
	}
	var children []string
	err := l.list(ctx, bucket, prefix, "/", func(page *s3.ListObjectsV2Output) {
		for _, obj := range page.Contents {
			l.add(bucket, aws.ToString(obj.Key))
		}
		for _, cp := range page.CommonPrefixes {
			children = append(children, aws.ToString(cp.Prefix))
		}
	})
	if err != nil {
		return err
	}
	for _, child := range children {
		if err := l.walk(ctx, bucket, child); err != nil {
			return err
		}
	}
	return nil
}

// listFlat lists every object under prefix.
func (l *lister) listFlat(ctx context.Context, bucket, prefix string) error {
	return l.list(ctx, bucket, prefix, "", func(page *s3.ListObjectsV2Output) {
		for _, obj := range page.Contents {
			l.add(bucket, aws.ToString(obj.Key))
		}
	})
}

// list runs a paginated ListObjectsV2.
func (l *lister) list(ctx context.Context, bucket, prefix, delimiter string, each func(*s3.ListObjectsV2Output)) error {
	input := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if delimiter != "" {
		input.Delimiter = aws.String(delimiter)
	}
	pages := s3.NewListObjectsV2Paginator(l.store.Client, input)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		each(page)
	}
	return nil
}

// add takes an object the listing found, if it is a span object of a day
// in the range.
func (l *lister) add(bucket, key string) {
	parsed, ok := objectstore.ParseKey(key)
	if !ok || spanfile.Temporary(parsed.Name) {
		l.out.Ignored++
		return
	}
	if !l.days.contains(parsed.Day) {
		l.out.SkippedObjects++
		return
	}
	name := objectName(bucket, key)
	if l.seen[name] {
		return
	}
	l.seen[name] = true
	base, ext, rotated, _ := spanfile.ParseName(parsed.Name)
	sk := streamKey{bucket: bucket, shard: parsed.Shard, active: base + ext}
	i, ok := l.groups[sk]
	if !ok {
		i = len(l.objects)
		l.groups[sk] = i
		l.objects = append(l.objects, nil)
	}
	l.objects[i] = append(l.objects[i], object{name: name, rotated: rotated, active: base + ext})
}

// listing puts each stream in the order written.
func (l *lister) listing() Listing {
	out := l.out
	for _, group := range l.objects {
		ordered := order(group)
		out.Streams = append(out.Streams, ordered)
		out.Objects += len(ordered)
	}
	return out
}

// order sorts one writer's objects as the writer orders rotated files (by
// day, then rotation number). When a file is there both plain and
// compressed, only the plain one is kept, as the reader does for files, so
// no span is read twice.
func order(objects []object) []string {
	plain := map[string]bool{}
	for _, o := range objects {
		if o.rotated.Compression == "" {
			plain[o.rotated.Key()] = true
		}
	}
	kept := objects[:0:0]
	for _, o := range objects {
		if o.rotated.Compression != "" && plain[o.rotated.Key()] {
			continue
		}
		kept = append(kept, o)
	}
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i].rotated, kept[j].rotated
		if a.Day != b.Day || a.Index != b.Index {
			return a.Before(b)
		}
		return kept[i].name < kept[j].name
	})
	names := make([]string, len(kept))
	for i, o := range kept {
		names[i] = o.name
	}
	return names
}
