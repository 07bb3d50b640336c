package access

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// grpcRefusals are the statuses of refused calls, made once: the tap runs
// on the connection's reader goroutine and should do little there.
var grpcRefusals = map[string]error{
	reasonMissing:   status.Error(codes.Unauthenticated, `this collector requires a bearer token: send the metadata "authorization: Bearer <token>"`),
	reasonNotBearer: status.Error(codes.Unauthenticated, `the authorization metadata holds no bearer token: send "authorization: Bearer <token>"`),
	reasonWrong:     status.Error(codes.Unauthenticated, `the bearer token is not one this collector accepts`),
}

// GRPCTap returns a handle for grpc.InTapHandle that refuses, with
// Unauthenticated, every call without an accepted token in its
// authorization metadata. gRPC runs it on the headers of a new stream,
// before the stream exists and so before any of its message is read
// (internal/transport's operateHeaders in grpc-go v1.85); a refused call
// costs a header frame and a reset. protocol labels the refusal metric.
func (a *Authenticator) GRPCTap(protocol string) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		var authorization string
		// Keys arrive lowercased; one value is what clients send.
		if vals := info.Header["authorization"]; len(vals) > 0 {
			authorization = vals[0]
		}
		reason := a.check(authorization)
		if reason == "" {
			return ctx, nil
		}
		a.refused(protocol, reason)
		return ctx, grpcRefusals[reason]
	}
}
