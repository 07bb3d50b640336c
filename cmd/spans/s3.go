package spans

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/s3read"
)

// storeFlags say how to reach the object store of s3:// inputs. The
// credentials are not flags: they come from the AWS SDK's default chain
// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE
// and the shared files, a web identity token, the instance metadata), as
// for the aws CLI, so that no secret ends up in a shell history.
type storeFlags struct {
	endpoint, region, caFile string
	pathStyle                bool
}

func (f *storeFlags) register(flags *pflag.FlagSet) {
	flags.StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint URL for s3:// inputs, such as http://minio.storage:9000 (default: AWS S3 of --s3-region)")
	flags.StringVar(&f.region, "s3-region", "", "region of the s3:// inputs' bucket (default $AWS_REGION, else $AWS_DEFAULT_REGION, else "+objectstore.DefaultRegion+")")
	flags.BoolVar(&f.pathStyle, "s3-path-style", false, "address buckets as <endpoint>/<bucket> rather than <bucket>.<endpoint>, as most S3-compatible stores need")
	flags.StringVar(&f.caFile, "s3-ca-file", "", "PEM bundle of extra certificate authorities for an S3 endpoint with its own CA")
}

// objectstoreEndpoint fills the Endpoint that objectstore.NewClient takes.
// Without static credential files the client uses the SDK's default chain.
func (f *storeFlags) objectstoreEndpoint() objectstore.Endpoint {
	region := f.region
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(env)
		}
	}
	return objectstore.Endpoint{URL: f.endpoint, Region: region, PathStyle: f.pathStyle, CAFile: f.caFile}
}

// resolveArgs resolves command-line inputs: files, directories and globs
// as reader.Resolve does, s3:// URLs by listing the store, each shard one
// stream. The time range of filter (nil: none) decides which of the
// store's day partitions are listed and read.
func (o *options) resolveArgs(cmd *cobra.Command, args []string, filter *reader.Filter) (*inputSet, error) {
	var local []string
	var urls []s3read.URL
	for _, arg := range args {
		if !s3read.IsURL(arg) {
			local = append(local, arg)
			continue
		}
		u, err := s3read.ParseURL(arg)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		urls = append(urls, u)
	}
	in := &inputSet{}
	if len(local) > 0 {
		streams, err := reader.Resolve(local)
		if err != nil {
			return nil, err
		}
		in.streams = streams
	}
	if len(urls) == 0 {
		return in, nil
	}
	client, err := objectstore.NewClient(cmd.Context(), o.store.objectstoreEndpoint())
	if err != nil {
		return nil, err
	}
	in.store = &s3read.Store{Client: client}
	var since, until time.Time
	if filter != nil {
		since, until = filter.Since, filter.Until
	}
	listing, err := in.store.Resolve(cmd.Context(), urls, since, until)
	if err != nil {
		return nil, err
	}
	in.streams = append(in.streams, listing.Streams...)
	if listing.Objects > 0 || len(local) > 0 {
		return in, nil
	}
	if skipped := listing.SkippedPartitions + listing.SkippedObjects; skipped > 0 {
		// Span objects are there, only none of a day the range can
		// match: as for files, a filter that matches nothing is no error.
		fmt.Fprintf(cmd.ErrOrStderr(), "no span objects under %s of a day that --since/--until can match (%d partition(s) and %d object(s) of other days skipped)\n", urlList(urls), listing.SkippedPartitions, listing.SkippedObjects)
		in.outOfRange = true
		return in, nil
	}
	if listing.Ignored > 0 {
		return nil, fmt.Errorf("no span objects under %s: %d object(s) there, none under the key layout <prefix>/<namespace>/<sink>/<shard>/year=YYYY/month=MM/day=DD/<rotated file name>", urlList(urls), listing.Ignored)
	}
	return nil, fmt.Errorf("no span objects under %s: nothing is stored there", urlList(urls))
}

// urlList names the URLs in a message.
func urlList(urls []s3read.URL) string {
	names := make([]string, len(urls))
	for i, u := range urls {
		names[i] = u.String()
	}
	return strings.Join(names, ", ")
}
