//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The README's first command on a machine with no cluster: `make run` runs
// hack/devcluster, which must bring up a cluster of its own next to this
// suite's, run the operator and the sample, print lines a newcomer can
// copy, and leave nothing behind on Ctrl-C.
var _ = Describe("make run without a cluster", func() {
	It("brings up the sample, prints working telemetrygen and curl lines and the span directory, and cleans up on Ctrl-C", func(ctx SpecContext) {
		devcluster := filepath.Join(suite.work, "bin", "devcluster")
		run(ctx, suite.root, nil, "go", "build", "-o", devcluster, "./hack/devcluster")

		cache := filepath.Join(suite.work, "devcluster-cache")
		cmd := exec.Command(devcluster)
		cmd.Dir = suite.root
		cmd.Env = append(os.Environ(),
			// No cluster to find: a kubeconfig that does not exist.
			"KUBECONFIG="+filepath.Join(suite.work, "no-such-kubeconfig"),
			"SPANSINK_CACHE_DIR="+cache,
			"SPANSINK_CONTROL_PLANE_BIN="+suite.controlPlaneBin,
		)
		stdout, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		logPath := filepath.Join(suite.work, "devcluster.log")
		logFile, err := os.Create(logPath)
		Expect(err).NotTo(HaveOccurred())
		defer logFile.Close()
		cmd.Stderr = logFile
		// Should this suite die, devcluster still stops its pods and unmounts
		// their volumes: SIGTERM is a Ctrl-C to it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		printed := make(chan string, 1)
		go func() {
			printed <- readUntil(stdout, "Ctrl-C stops everything")
			_, _ = io.Copy(io.Discard, stdout)
			done <- cmd.Wait()
		}()
		exited := false
		DeferCleanup(func() {
			// A failed spec still stops devcluster the way a user would, so
			// that its pods, mounts and network namespaces go with it.
			if exited {
				return
			}
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
			}
		})

		var out string
		Eventually(printed).WithContext(ctx).WithTimeout(5*time.Minute).Should(Receive(&out),
			func() string { return "devcluster log:\n" + string(tail(mustRead(logPath), 4000)) })
		GinkgoWriter.Printf("make run printed:\n%s\n", out)

		lines := printedLines(out)
		Expect(lines).To(HaveKey("export"), "prints the kubeconfig to export")
		Expect(lines).To(HaveKey("telemetrygen"))
		Expect(lines).To(HaveKey("curl"))
		Expect(lines).To(HaveKey("dir"))
		kubeconfig := strings.TrimPrefix(lines["export"], "export KUBECONFIG=")
		Expect(kubeconfig).To(Equal(filepath.Join(cache, "devcluster", "kubeconfig")))
		Expect(kubectlWith(kubeconfig, "get", "spansink", "dbgpt", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}")).To(Equal("True"))

		// The telemetrygen line names the checkout's bin/telemetrygen, which
		// `make run` builds; the suite's own build of the same pinned version
		// stands in for it when this suite runs without make.
		tgLine := lines["telemetrygen"]
		binary, args, _ := strings.Cut(tgLine, " ")
		Expect(binary).To(Equal(filepath.Join(suite.root, "bin", "telemetrygen")))
		if _, err := os.Stat(binary); err != nil {
			tgLine = suite.telemetrygen + " " + args
		}
		shell(ctx, tgLine)
		Expect(shell(ctx, lines["curl"])).To(ContainSubstring(`"accepted":1`))

		dir := lines["dir"]
		Expect(dir).To(HavePrefix(cache))
		Eventually(func(g Gomega) {
			stored := readSpans(dir, "dbgpt")
			g.Expect(distinctOnce(spansOf(stored, "hello-spansink"))).To(Equal(20), "ten traces of two spans from telemetrygen")
			var ids []string
			for _, span := range stored {
				ids = append(ids, span.SpanID)
			}
			g.Expect(ids).To(ContainElement("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7"), "the span curl sent")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		By("Ctrl-C")
		Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		var exitErr error
		Eventually(done).WithContext(ctx).WithTimeout(2*time.Minute).Should(Receive(&exitErr),
			func() string { return "devcluster log:\n" + string(tail(mustRead(logPath), 4000)) })
		exited = true
		Expect(exitErr).NotTo(HaveOccurred(), "devcluster exits cleanly on SIGINT; log: %s", logPath)

		// Nothing of its cluster is left: no process runs from its work
		// directory, nothing is mounted below it; the span files stay.
		Expect(processesUnder(cache)).To(BeEmpty())
		Expect(mountsUnder(cache)).To(BeEmpty())
		Expect(readSpans(dir, "dbgpt")).NotTo(BeEmpty())
	})
})

// readUntil returns what r yields up to and including the first line that
// contains marker, or everything if r ends first.
func readUntil(r io.Reader, marker string) string {
	var b strings.Builder
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		b.WriteString(scanner.Text() + "\n")
		if strings.Contains(scanner.Text(), marker) {
			break
		}
	}
	return b.String()
}

// printedLines picks the lines a user copies out of make run's output: the
// export, the two client commands and the span directory (the indented
// line after "appear in:").
func printedLines(out string) map[string]string {
	lines := map[string]string{}
	all := strings.Split(out, "\n")
	for i, line := range all {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "export KUBECONFIG="):
			lines["export"] = line
		case strings.HasPrefix(line, "curl "):
			lines["curl"] = line
		case strings.Contains(line, "telemetrygen traces "):
			lines["telemetrygen"] = line
		case strings.HasSuffix(line, "appear in:") && i+2 < len(all):
			lines["dir"] = strings.TrimSpace(all[i+2])
		}
	}
	return lines
}

// shell runs a printed command line as a user would paste it.
func shell(ctx context.Context, line string) string {
	GinkgoHelper()
	out, err := exec.CommandContext(ctx, "bash", "-c", line).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%s:\n%s", line, out)
	return string(out)
}

// kubectlWith runs kubectl with another kubeconfig.
func kubectlWith(kubeconfig string, args ...string) string {
	GinkgoHelper()
	out, err := exec.Command(suite.kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func mustRead(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

// processesUnder lists processes whose executable lies below dir (the
// collector pods) or whose command line names it (the control plane, whose
// kubeconfigs and logs live there).
func processesUnder(dir string) []string {
	GinkgoHelper()
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	var found []string
	for _, e := range entries {
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(exe, dir+"/") || strings.Contains(string(cmdline), dir+"/") {
			found = append(found, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

// mountsUnder lists mount points below dir.
func mountsUnder(dir string) []string {
	GinkgoHelper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			found = append(found, fields[4])
		}
	}
	return found
}
