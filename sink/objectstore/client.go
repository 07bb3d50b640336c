package objectstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Endpoint says which store to talk to and how to authenticate; the
// collector's config and the reader's flags both fill it.
type Endpoint struct {
	// URL is the S3 endpoint, such as https://s3.eu-west-1.amazonaws.com or
	// http://minio.storage:9000; empty means AWS's endpoint for Region.
	URL string
	// Region is the bucket's region; S3-compatible stores accept any, and
	// "us-east-1" is used when it is empty.
	Region string
	// PathStyle addresses buckets as <endpoint>/<bucket> rather than
	// <bucket>.<endpoint>, as most S3-compatible stores need.
	PathStyle bool
	// AccessKeyIDFile, SecretAccessKeyFile and SessionTokenFile hold static
	// credentials (a mounted Secret's keys), read again every
	// credentialsRefresh so that a rotated Secret takes effect without a
	// restart. Without them, the SDK's default chain is used: the
	// environment, a web identity token (IRSA, EKS Pod Identity), the
	// instance metadata service.
	AccessKeyIDFile, SecretAccessKeyFile, SessionTokenFile string
	// CAFile is a PEM bundle of extra certificate authorities for a store
	// with its own CA.
	CAFile string
}

// credentialsRefresh is how long credentials read from files are used
// before they are read again: short, so that fixed credentials (a Secret
// updated after uploads failed with AccessDenied) are picked up soon; three
// small files every few seconds cost nothing.
const credentialsRefresh = 10 * time.Second

// DefaultRegion is the region of an Endpoint that names none.
const DefaultRegion = "us-east-1"

// NewClient makes an S3 client for the endpoint. It checks that the files
// it names can be read, so that a mistake shows at startup, but makes no
// request: the store may be down, which the uploader rides out.
func NewClient(ctx context.Context, e Endpoint) (*s3.Client, error) {
	region := e.Region
	if region == "" {
		region = DefaultRegion
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if e.AccessKeyIDFile != "" || e.SecretAccessKeyFile != "" {
		files := fileCredentials{accessKeyID: e.AccessKeyIDFile, secretAccessKey: e.SecretAccessKeyFile, sessionToken: e.SessionTokenFile}
		if _, err := files.Retrieve(ctx); err != nil {
			return nil, err
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.NewCredentialsCache(files)))
	}
	if e.CAFile != "" {
		client, err := httpClientWithCA(e.CAFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, awsconfig.WithHTTPClient(client))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("object store client: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e.URL != "" {
			o.BaseEndpoint = aws.String(e.URL)
		}
		o.UsePathStyle = e.PathStyle
	}), nil
}

// fileCredentials reads static credentials from files.
type fileCredentials struct {
	accessKeyID, secretAccessKey, sessionToken string
}

// Retrieve implements aws.CredentialsProvider.
func (f fileCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	read := func(path, what string) (string, error) {
		if path == "" {
			return "", nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read the object store's %s: %w", what, err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	id, err := read(f.accessKeyID, "access key id")
	if err != nil {
		return aws.Credentials{}, err
	}
	secret, err := read(f.secretAccessKey, "secret access key")
	if err != nil {
		return aws.Credentials{}, err
	}
	token, err := read(f.sessionToken, "session token")
	if err != nil {
		return aws.Credentials{}, err
	}
	if id == "" || secret == "" {
		return aws.Credentials{}, errors.New("the object store's access key id and secret access key must both be set and non-empty")
	}
	return aws.Credentials{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "spansink files",
		CanExpire: true, Expires: time.Now().Add(credentialsRefresh),
	}, nil
}

// httpClientWithCA is the SDK's HTTP client trusting the system roots and
// the bundle in caFile.
func httpClientWithCA(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the object store's CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the object store's CA bundle %s holds no PEM certificate", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: transport}, nil
}
