package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// TriggersVersion is the github.com/tektoncd/triggers version of the
// EventListener sink, the core interceptors and the CRDs, as
// tools/triggers/go.mod requires it (.ci/build-triggers builds from there;
// TestTriggersVersionMatchesToolsModule keeps the two in step).
const TriggersVersion = "v0.37.0"

// Environment variables that name a Triggers binary to use instead of the
// one in the tools cache.
const (
	EnvTriggersSink         = "CASCADE_TRIGGERS_SINK"
	EnvTriggersInterceptors = "CASCADE_TRIGGERS_INTERCEPTORS"
)

// InterceptorsPort is the port of the core interceptors' HTTPS server. It
// is a constant in cmd/interceptors (no flag, no environment variable), so
// only one interceptors server can run on a machine at a time:
// [StartTriggers] holds a lock file for as long as its server runs.
const InterceptorsPort = 8443

const (
	// The names config/interceptors/ uses for the interceptors' Service
	// (only the certificate's name) and its certificate Secret.
	interceptorsService = "tekton-triggers-core-interceptors"
	interceptorsSecret  = "tekton-triggers-core-interceptors-certs"
	// The keys of the certificate Secret (knative's certificates package).
	secretServerKey  = "server-key.pem"
	secretServerCert = "server-cert.pem"
	secretCACert     = "ca-cert.pem"

	triggersReadyTimeout = 2 * time.Minute
	// interceptorsLockTimeout bounds the wait for another test's
	// interceptors server (on InterceptorsPort) to end.
	interceptorsLockTimeout = 5 * time.Minute
)

// Triggers is Tekton Triggers against a [Kube], without its controller or
// webhook: its CRDs created from the config/ YAMLs of the
// github.com/tektoncd/triggers module, the core interceptors server a child
// process of the test on https://127.0.0.1:[InterceptorsPort], and an
// EventListener's sink started per EventListener by
// [Triggers.StartEventListener].
//
// The controller is not run: what it does is create each EventListener's
// Deployment and Service (no kubelet runs them here) and fill in the
// addresses in the status of EventListeners and ClusterInterceptors.
// Instead the sink binary runs directly, and the ClusterInterceptors of
// config/interceptors/ are created with spec.clientConfig.url pointing at
// the local interceptors server, which the sink uses when the status has
// no address. Without the webhook nothing is defaulted or validated on
// create: objects must be written out in full (an interceptor ref needs
// its kind: ClusterInterceptor).
type Triggers struct {
	// Kube is the cluster Triggers runs in.
	Kube *Kube

	sinkBin   string
	configDir string
	caPEM     []byte
}

// StartTriggers creates Triggers' CRDs (config/300-*.yaml), the core
// interceptors' certificate Secret and ClusterInterceptors
// (config/interceptors/) in k, and starts the core interceptors server
// (built by .ci/build-triggers, or $CASCADE_TRIGGERS_INTERCEPTORS) with the
// environment its Deployment sets. The server's certificate, for 127.0.0.1,
// is put in the Secret before the server starts, so the server serves it
// instead of making one for its Service's DNS names, and the
// ClusterInterceptors carry its CA as their caBundle. StartTriggers waits
// until the server answers /ready over TLS with that CA. Cleanup kills
// exactly the server's PID. A missing binary fails the test in CI and skips
// it elsewhere.
//
// The interceptors server always listens on [InterceptorsPort] (all
// interfaces; only loopback is used): StartTriggers first takes a lock
// file, waiting up to five minutes for another test's server to end.
func StartTriggers(t testing.TB, k *Kube) *Triggers {
	t.Helper()
	interceptorsBin := requireTool(t, EnvTriggersInterceptors, "tekton-triggers", TriggersVersion, "interceptors")
	sinkBin := requireTool(t, EnvTriggersSink, "tekton-triggers", TriggersVersion, "eventlistenersink")
	configDir, err := toolPath("tekton-triggers", TriggersVersion, "config")
	if err != nil {
		missing(t, "%v", err)
		return nil
	}
	for _, f := range []string{"300-eventlistener.yaml", "interceptors/core-interceptors.yaml", "interceptors/00-interceptor-secrets.yaml"} {
		if _, err := os.Stat(filepath.Join(configDir, f)); err != nil {
			missing(t, "Triggers' config/ YAMLs not found in %s (%v): run .ci/build-triggers", configDir, err)
			return nil
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), triggersReadyTimeout)
	defer cancel()

	tr := &Triggers{Kube: k, sinkBin: sinkBin, configDir: configDir}
	certPEM, keyPEM, err := servingCert()
	if err != nil {
		t.Fatalf("starting triggers: %v", err)
	}
	tr.caPEM = certPEM
	if err := tr.install(ctx, certPEM, keyPEM); err != nil {
		t.Fatalf("starting triggers: %v", err)
	}
	installed := time.Since(start)

	unlock, err := lockPort(t, InterceptorsPort)
	if err != nil {
		t.Fatalf("starting the triggers interceptors: %v", err)
	}
	// Registered before the child's cleanup, so it runs after the child
	// has been killed and reaped.
	t.Cleanup(unlock)
	if err := tr.startInterceptors(t, interceptorsBin); err != nil {
		t.Fatalf("starting the triggers interceptors: %v", err)
	}
	t.Logf("tekton triggers %s: CRDs and ClusterInterceptors in %v, interceptors ready on :%d after %v",
		TriggersVersion, installed.Round(time.Millisecond), InterceptorsPort, time.Since(start).Round(time.Millisecond))
	return tr
}

// Create creates every object of the YAML documents in manifest (with
// create, never apply), each in the namespace its metadata names.
func (tr *Triggers) Create(ctx context.Context, manifest string) error {
	objs, err := decodeObjects(strings.NewReader(manifest), "manifest")
	if err != nil {
		return err
	}
	return createAll(ctx, tr.Kube.RESTConfig(), objs)
}

// EventListener is the sink of one EventListener, a child process of the
// test: what the EventListener's Deployment would run.
type EventListener struct {
	// URL is where the sink takes events: http://127.0.0.1:PORT.
	URL string

	c *child
}

// StartEventListener starts the sink of EventListener ns/name (built by
// .ci/build-triggers, or $CASCADE_TRIGGERS_SINK) with the arguments and
// environment the Triggers controller gives its Deployment, a free port,
// an admin kubeconfig (there is no in-cluster service account, so a
// Trigger must not set serviceAccountName: the sink would look for
// in-cluster credentials to impersonate it) and debug logging, and waits
// until it answers /live. The EventListener and the objects its triggers
// use should exist before: the sink lists them once at start and then
// follows changes by watch. The sink has no bind-address flag: it listens
// on all interfaces, and the test uses only 127.0.0.1. Cleanup kills
// exactly the sink's PID.
func (tr *Triggers) StartEventListener(t testing.TB, ns, name string) *EventListener {
	t.Helper()
	el, err := tr.startSink(t, ns, name)
	if err != nil {
		t.Fatalf("starting the sink of eventlistener %s/%s: %v", ns, name, err)
	}
	return el
}

func (tr *Triggers) startSink(t testing.TB, ns, name string) (*EventListener, error) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "sink.kubeconfig")
	if err := tr.Kube.writeKubeconfig(kubeconfig, "admin", tr.Kube.adminToken); err != nil {
		return nil, err
	}
	var errs []error
	for range kubeStartTries {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		profiling, err := freePort()
		if err != nil {
			return nil, err
		}
		// Debug level: the sink logs an interceptor's refusal only there.
		logging := `{"zap-logger-config":"{\"level\":\"debug\",\"encoding\":\"json\",\"outputPaths\":[\"stdout\"],\"errorOutputPaths\":[\"stderr\"],\"encoderConfig\":{\"timeKey\":\"ts\",\"levelKey\":\"level\",\"nameKey\":\"logger\",\"messageKey\":\"msg\"}}","loglevel.eventlistener":"debug"}`
		env := append(slices.Clone(os.Environ()),
			"NAMESPACE="+ns,
			"NAME="+name,
			"SYSTEM_NAMESPACE="+ns,
			"EL_EVENT=disable",
			"K_SINK_TIMEOUT=5",
			"K_LOGGING_CONFIG="+logging,
			"KUBERNETES_MIN_VERSION=v1.28.0",
			// Profiling is off by default; were it on, not on :8008.
			"PROFILING_PORT="+strconv.Itoa(profiling),
		)
		c, err := startChild(t, filepath.Join(dir, fmt.Sprintf("sink-%d.log", port)), tr.sinkBin, env,
			"-kubeconfig", kubeconfig,
			"-el-name", name,
			"-el-namespace", ns,
			"-port", strconv.Itoa(port),
			"-is-multi-ns=false",
			"-payload-validation=true",
		)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := c.waitHTTP(triggersReadyTimeout, url+"/live", http.DefaultClient, nil); err != nil {
			c.stop()
			log := c.tail(logTail)
			errs = append(errs, fmt.Errorf("%w; log:\n%s", err, log))
			if strings.Contains(log, "address already in use") {
				continue
			}
			return nil, errors.Join(errs...)
		}
		return &EventListener{URL: url, c: c}, nil
	}
	return nil, errors.Join(errs...)
}

// WaitLog waits until a line of the sink's log contains every one of
// substrings, and returns that line. Bounded by ctx.
func (el *EventListener) WaitLog(ctx context.Context, substrings ...string) (string, error) {
	for {
		if lines := el.LogLines(substrings...); len(lines) > 0 {
			return lines[0], nil
		}
		if err := el.c.running(); err != nil {
			return "", fmt.Errorf("waiting for %q in the sink's log: %w", substrings, err)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return "", fmt.Errorf("waiting for %q in the sink's log: %w; last of it:\n%s", substrings, err, el.c.tail(4<<10))
		}
	}
}

// Log returns up to the last 16 KiB of the sink's log.
func (el *EventListener) Log() string { return el.c.tail(logTail) }

// LogLines returns every line of the sink's log that contains all of
// substrings.
func (el *EventListener) LogLines(substrings ...string) []string {
	data, err := os.ReadFile(el.c.log)
	if err != nil {
		return nil
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if !slices.ContainsFunc(substrings, func(s string) bool { return !strings.Contains(line, s) }) {
			lines = append(lines, line)
		}
	}
	return lines
}

// install creates the Triggers CRDs and waits for them, then the
// interceptors' certificate Secret (with the given certificate) and the
// core ClusterInterceptors (pointing at 127.0.0.1, with that CA).
func (tr *Triggers) install(ctx context.Context, certPEM, keyPEM []byte) error {
	cs, err := kubernetes.NewForConfig(tr.Kube.RESTConfig())
	if err != nil {
		return fmt.Errorf("installing triggers: %w", err)
	}
	// Triggers installs into Tekton Pipelines' namespace, which it does not
	// create: StartTekton may have made it already.
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: TektonNamespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("installing triggers: creating namespace %s: %w", TektonNamespace, err)
	}

	crdFiles, err := filepath.Glob(filepath.Join(tr.configDir, "300-*.yaml"))
	if err != nil || len(crdFiles) == 0 {
		return fmt.Errorf("installing triggers: no 300-*.yaml in %s (%v)", tr.configDir, err)
	}
	var crds []*unstructured.Unstructured
	for _, file := range crdFiles {
		objs, err := readObjects(file)
		if err != nil {
			return fmt.Errorf("installing triggers: %w", err)
		}
		for _, obj := range objs {
			if obj.GetKind() != "CustomResourceDefinition" {
				return fmt.Errorf("installing triggers: %s: %s %s is not a CRD", file, obj.GetKind(), obj.GetName())
			}
		}
		crds = append(crds, objs...)
	}
	if err := createAll(ctx, tr.Kube.RESTConfig(), crds); err != nil {
		return fmt.Errorf("installing triggers: %w", err)
	}

	secretObjs, err := readObjects(filepath.Join(tr.configDir, "interceptors", "00-interceptor-secrets.yaml"))
	if err != nil {
		return fmt.Errorf("installing triggers: %w", err)
	}
	ciObjs, err := readObjects(filepath.Join(tr.configDir, "interceptors", "core-interceptors.yaml"))
	if err != nil {
		return fmt.Errorf("installing triggers: %w", err)
	}
	objs := append(secretObjs, ciObjs...)
	for _, obj := range objs {
		if err := tr.configure(obj, certPEM, keyPEM); err != nil {
			return fmt.Errorf("installing triggers: %w", err)
		}
	}
	// The ClusterInterceptors' kind exists now that its CRD is
	// established: a second call maps it.
	if err := createAll(ctx, tr.Kube.RESTConfig(), objs); err != nil {
		return fmt.Errorf("installing triggers: %w", err)
	}
	return nil
}

// configure adapts the interceptors' objects of config/interceptors/ to a
// server on loopback: the certificate Secret gets the certificate (its
// data is "populated at install time"), and each ClusterInterceptor the
// URL of its path on 127.0.0.1 instead of the Service, and the CA.
func (tr *Triggers) configure(obj *unstructured.Unstructured, certPEM, keyPEM []byte) error {
	switch {
	case obj.GetKind() == "Secret" && obj.GetName() == interceptorsSecret:
		// A Secret's data is base64 in JSON; stringData is plain.
		return unstructured.SetNestedStringMap(obj.Object, map[string]string{
			secretServerKey:  string(keyPEM),
			secretServerCert: string(certPEM),
			secretCACert:     string(certPEM),
		}, "stringData")
	case obj.GetKind() == "ClusterInterceptor":
		path, _, _ := unstructured.NestedString(obj.Object, "spec", "clientConfig", "service", "path")
		if path == "" {
			return fmt.Errorf("ClusterInterceptor %s has no spec.clientConfig.service.path", obj.GetName())
		}
		return unstructured.SetNestedMap(obj.Object, map[string]any{
			"url": fmt.Sprintf("https://127.0.0.1:%d/%s", InterceptorsPort, path),
			// []byte in Go, base64 in JSON.
			"caBundle": base64.StdEncoding.EncodeToString(tr.caPEM),
		}, "spec", "clientConfig")
	}
	return fmt.Errorf("unexpected %s %s in config/interceptors", obj.GetKind(), obj.GetName())
}

// startInterceptors starts the core interceptors server with the
// environment of config/interceptors/core-interceptors-deployment.yaml and
// waits until it serves /ready with the certificate of the Secret.
func (tr *Triggers) startInterceptors(t testing.TB, bin string) error {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "interceptors.kubeconfig")
	if err := tr.Kube.writeKubeconfig(kubeconfig, "admin", tr.Kube.adminToken); err != nil {
		return err
	}
	env := append(slices.Clone(os.Environ()),
		"SYSTEM_NAMESPACE="+TektonNamespace,
		"CONFIG_LOGGING_NAME=config-logging-triggers",
		"CONFIG_OBSERVABILITY_NAME=config-observability-triggers",
		"METRICS_DOMAIN=tekton.dev/triggers",
		"INTERCEPTOR_TLS_SVC_NAME="+interceptorsService,
		"INTERCEPTOR_TLS_SECRET_NAME="+interceptorsSecret,
		"KUBERNETES_MIN_VERSION=v1.28.0",
	)
	c, err := startChild(t, filepath.Join(dir, "interceptors.log"), bin, env, "-kubeconfig", kubeconfig)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(tr.caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/ready", InterceptorsPort)
	if err := c.waitHTTP(triggersReadyTimeout, url, client, nil); err != nil {
		c.stop()
		return fmt.Errorf("%w; log:\n%s", err, c.tail(logTail))
	}
	return nil
}

// lockPort takes an exclusive lock on a file named after port in the
// temporary directory, waiting while another process (another test
// binary) holds it, and returns the function that releases it.
func lockPort(t testing.TB, port int) (func(), error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("cascade-testenv-port-%d.lock", port))
	// Read-only: flock needs no write access, so a file another user
	// created serves as well.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), interceptorsLockTimeout)
	defer cancel()
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !logged {
			t.Logf("waiting for %s: another test's server holds port %d", path, port)
			logged = true
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s (port %d): %w", path, port, err)
		}
	}
}
