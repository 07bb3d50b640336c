package ingest

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// ptraceotlp.RegisterGRPCServer lets gRPC decode the request, and gRPC
// answers any decoding failure with codes.Internal, which tells an OTLP
// client "server bug" instead of "your request is bad", and which fails a
// whole request for one span with a malformed id. RegisterGRPCService
// decodes the request itself instead, through the codec that
// GRPCServerOptions installs.

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// RegisterGRPCService registers svc (from NewGRPCService) as the OTLP
// TraceService on s, which must be built with GRPCServerOptions. An
// undecodable request is answered with InvalidArgument and a message saying
// why; spans with malformed ids are dropped and reported as a partial
// success, as over HTTP.
func RegisterGRPCService(s grpc.ServiceRegistrar, svc ptraceotlp.GRPCServer) {
	s.RegisterService(&traceServiceDesc, svc)
}

var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
	HandlerType: (*ptraceotlp.GRPCServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: exportHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

// grpcRequest is the request as received: its protobuf encoding, decoded
// by the handler, which knows the encoder and so can take the wire path.
type grpcRequest struct {
	body mem.Buffer
}

// free gives the body back to gRPC's buffer pool.
func (r *grpcRequest) free() {
	if r.body != nil {
		r.body.Free()
		r.body = nil
	}
}

// grpcResponse is an ExportTraceServiceResponse already in protobuf form.
type grpcResponse struct {
	body []byte
}

func exportHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := new(grpcRequest)
	if err := dec(req); err != nil {
		if own, isOwn := srv.(*grpcService); isOwn && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, own.receiveTimedOut()
		}
		return nil, err
	}
	// Nothing keeps the body: the records are copies. The export frees it
	// as soon as they are made; this is for the requests that end before.
	defer req.free()
	handle := func(ctx context.Context, r any) (any, error) {
		return export(ctx, srv.(ptraceotlp.GRPCServer), r.(*grpcRequest))
	}
	if interceptor == nil {
		return handle(ctx, req)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: exportMethod}, handle)
}

func export(ctx context.Context, srv ptraceotlp.GRPCServer, req *grpcRequest) (any, error) {
	body := req.body.ReadOnlyData()
	var resp ptraceotlp.ExportResponse
	var err error
	if own, isOwn := srv.(*grpcService); isOwn {
		resp, err = own.exportBody(ctx, body, req.free)
	} else {
		td, _, decodeErr := DecodeOTLPProto(body)
		if decodeErr != nil {
			return nil, status.Error(codes.InvalidArgument, decodeErr.Error())
		}
		resp, err = srv.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	}
	if err != nil {
		return nil, err
	}
	if resp.PartialSuccess().RejectedSpans() == 0 && resp.PartialSuccess().ErrorMessage() == "" {
		// The usual answer: an empty message, which encodes to no bytes.
		return &grpcResponse{}, nil
	}
	out, err := resp.MarshalProto()
	if err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("marshal ExportTraceServiceResponse: %v", err))
	}
	return &grpcResponse{body: out}, nil
}

// grpcCodec decodes grpcRequest and encodes grpcResponse, and hands every
// other message (health checks, reflection, ptraceotlp's own types) to the
// registered proto codec.
type grpcCodec struct {
	delegate encoding.CodecV2
	// pool takes the copy that joins a request's frames; it charges the
	// inflight budget without waiting (see budgetPool.charging).
	pool mem.BufferPool
}

func newGRPCCodec(pool mem.BufferPool) grpcCodec {
	return grpcCodec{delegate: encoding.GetCodecV2("proto"), pool: pool}
}

// Name implements encoding.CodecV2.
func (grpcCodec) Name() string { return "proto" }

// Marshal implements encoding.CodecV2.
func (c grpcCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*grpcResponse); ok {
		return mem.BufferSlice{mem.SliceBuffer(r.body)}, nil
	}
	return c.delegate.Marshal(v)
}

// Unmarshal implements encoding.CodecV2. A request is not decoded here:
// gRPC would answer a decoding failure with Internal, while the handler
// answers InvalidArgument. The request keeps a reference to the data (no
// copy when it arrived in one buffer) until the handler is done.
func (c grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*grpcRequest); ok {
		r.body = data.MaterializeToBuffer(c.pool)
		return nil
	}
	return c.delegate.Unmarshal(data, v)
}
