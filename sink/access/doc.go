// Package access decides who may talk to a collector: the bearer tokens
// clients must present, and the TLS material of the ingest ports. Both are
// read from files (mounted Secrets in a pod) and read again when the files
// change, so a rotated token or a renewed certificate takes effect without
// a restart, while a broken update keeps the material in force.
//
// Wiring: Open loads the files named by config.Auth and config.TLS and
// watches them. Its Authenticator guards HTTP handlers (HTTPMiddleware)
// and gRPC servers (GRPCTap, a grpc.InTapHandle that refuses a call from
// its headers, before any message is read); its ServerTLS makes the
// tls.Config of each port. Close stops the watching.
package access
