// Command incluster is an in-cluster API client for the e2e suite: run as a
// pod on the local node, it builds its client from rest.InClusterConfig
// (KUBERNETES_SERVICE_HOST and _PORT, the mounted token and ca.crt, exactly
// as an operator's manager does), asks the API server who it is
// (SelfSubjectReview) and for its version, prints what it learnt as one
// JSON line, and waits for SIGTERM so that the pod stays running while a
// test looks at it. Any failure is printed and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Report is the line the command prints.
type Report struct {
	// Host is the API server address the in-cluster config dials.
	Host string `json:"host"`
	// User is the name the API server authenticated the token as.
	User string `json:"user"`
	// Extra is the user's extra attributes: a bound token's pod name and uid.
	Extra map[string]authenticationv1.ExtraValue `json:"extra"`
	// ServerVersion is the API server's git version.
	ServerVersion string `json:"serverVersion"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

func run() error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("self subject review: %w", err)
	}
	version, err := client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	line, err := json.Marshal(Report{
		Host:          cfg.Host,
		User:          review.Status.UserInfo.Username,
		Extra:         review.Status.UserInfo.Extra,
		ServerVersion: version.GitVersion,
	})
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}
