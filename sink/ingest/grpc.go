package ingest

import (
	"context"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	// Registers the gzip decompressor, which OTLP/gRPC clients may use.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// NewGRPCService returns the OTLP/gRPC TraceService. Register it with
// RegisterGRPCService on a server built with GRPCServerOptions; it also
// works with ptraceotlp.RegisterGRPCServer, where gRPC itself answers
// undecodable requests (with Internal).
func NewGRPCService(opts Options) ptraceotlp.GRPCServer {
	return &grpcService{in: newIngester(opts)}
}

// GRPCServerOptions are the server options the service relies on: the
// request size limit, which gRPC applies after decompression too, and the
// codec that lets RegisterGRPCService decode requests itself; and the
// transport limits of opts: the buffers of requests charged to
// opts.Inflight, MaxConcurrentStreams, a deadline of RequestTimeout on
// every call (also while its message arrives), MaxHeaderBytes of metadata,
// keepalive enforcement, and connections closed after IdleTimeout without
// a call. The options include the server's tap, which runs opts.GRPCTap.
// Submitter and Encoder of opts are not used.
func GRPCServerOptions(opts Options) []grpc.ServerOption {
	opts = opts.withTransportDefaults()
	pool := newBudgetPool(opts.inflight(), opts.RequestTimeout)
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(opts.MaxRequestBytes)),
		grpc.ForceServerCodecV2(newGRPCCodec(pool.charging())),
		experimental.BufferPool(pool.waiting()),
		grpc.InTapHandle(deadlineTap(opts.GRPCTap, opts.RequestTimeout)),
		grpc.MaxConcurrentStreams(uint32(opts.MaxConcurrentStreams)),
		grpc.MaxHeaderListSize(uint32(opts.MaxHeaderBytes)),
		// The TLS handshake and HTTP/2 preface, which come before any call
		// and its deadline.
		grpc.ConnectionTimeout(opts.RequestTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: opts.IdleTimeout,
			// A peer that answers no ping for this long is gone: its
			// connection is closed even while its calls wait.
			Time:    opts.IdleTimeout,
			Timeout: keepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: minClientPingInterval,
			// Pings on an idle connection are cheap, and MaxConnectionIdle
			// closes it anyway: refusing them would only break clients
			// configured to keep connections warm.
			PermitWithoutStream: true,
		}),
		// A fixed pool of goroutines serves the requests instead of a new
		// goroutine per request, whose stack would grow anew every time.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Static flow-control windows: the default dynamic ones probe the
		// connection with BDP pings and send window updates in small
		// steps, each a write and a read on both sides.
		grpc.InitialWindowSize(grpcStreamWindow),
		grpc.InitialConnWindowSize(grpcConnWindow),
	}
}

// Keepalive of GRPCServerOptions: a client may ping every 10 s (the OTel
// Collector's exporters ping every 30 s when keepalive is on); more often
// is answered with GOAWAY "too_many_pings". The server's own pings wait
// 20 s for an answer, gRPC's default.
const (
	minClientPingInterval = 10 * time.Second
	keepaliveTimeout      = 20 * time.Second
)

// The flow-control windows of GRPCServerOptions: a stream may send a
// typical OTLP request without waiting, and the connection a few of them;
// what the windows let in is bounded by the request size limit and the
// queue behind.
const (
	grpcStreamWindow = 1 << 20
	grpcConnWindow   = 4 << 20
)

type grpcService struct {
	ptraceotlp.UnimplementedGRPCServer
	in *ingester
}

// Export stores the valid spans of the request and reports invalid ones as
// a partial success.
func (s *grpcService) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return s.export(ctx, req.Traces(), 0)
}

// export is Export for a request whose decoder already dropped malformed
// spans.
func (s *grpcService) export(ctx context.Context, td ptrace.Traces, malformed int) (ptraceotlp.ExportResponse, error) {
	p, err := s.in.exportTraces(ctx, s.in.otlpGRPC, td, malformed, nil)
	return s.answer(p, err)
}

// exportBody is Export for a request still in its protobuf encoding, which
// the encoder may take without decoding it into pdata. releaseBody gives
// body back to gRPC's buffer pool once the spans are encoded (see
// ingester.submit).
func (s *grpcService) exportBody(ctx context.Context, body []byte, releaseBody func()) (ptraceotlp.ExportResponse, error) {
	pm := s.in.otlpGRPC
	p, decodeErr, err := s.in.exportOTLPProto(ctx, pm, body, releaseBody)
	if decodeErr != nil {
		s.in.opts.Logger.V(1).Info("undecodable OTLP/gRPC request", "error", decodeErr)
		pm.request(codes.InvalidArgument.String())
		return ptraceotlp.ExportResponse{}, status.Error(codes.InvalidArgument, decodeErr.Error())
	}
	return s.answer(p, err)
}

// answer turns the outcome of an export into the response or status.
func (s *grpcService) answer(p partial, err error) (ptraceotlp.ExportResponse, error) {
	pm := s.in.otlpGRPC
	if err != nil {
		f := classify(err)
		st := status.New(f.grpcCode, err.Error())
		if f.retryable {
			// WithDetails fails only for codes.OK, which is never used here.
			if withInfo, detailErr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(s.in.opts.RetryAfter)}); detailErr == nil {
				st = withInfo
			}
		}
		pm.request(f.grpcCode.String())
		return ptraceotlp.ExportResponse{}, st.Err()
	}
	resp := ptraceotlp.NewExportResponse()
	if p.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(p.rejected))
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	pm.request(codes.OK.String())
	return resp, nil
}

// receiveTimedOut counts a call whose message did not arrive within the
// deadline deadlineTap set. gRPC has already answered it DeadlineExceeded
// ("context deadline exceeded") when its receive failed; the status
// returned here, naming the limit, is what the server's logs and
// interceptors see.
func (s *grpcService) receiveTimedOut() error {
	pm := s.in.otlpGRPC
	pm.refused(RefusedRequestTimeout)
	pm.request(codes.DeadlineExceeded.String())
	return status.Errorf(codes.DeadlineExceeded, "request not received within limits.requestTimeout (%s)", s.in.opts.RequestTimeout)
}
