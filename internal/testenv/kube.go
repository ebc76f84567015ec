package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Versions of the tools .ci/build-tools builds from tools/go.mod; the cache
// folders are named after them. TestToolVersionsMatchToolsModule keeps them
// in step with tools/go.mod.
const (
	// KubeVersion is the k8s.io/kubernetes version of kube-apiserver.
	KubeVersion = "v1.36.3"
	// TektonVersion is the github.com/tektoncd/pipeline version of the
	// Tekton controller and of its config/ YAMLs.
	TektonVersion = "v1.15.0"
)

// Environment variables that name a binary to use instead of the one in
// the tools cache.
const (
	EnvKubeAPIServer = "CASCADE_KUBE_APISERVER"
	// EnvKubeControllerManager names a kube-controller-manager binary.
	EnvKubeControllerManager = "CASCADE_KUBE_CONTROLLER_MANAGER"
	EnvTektonController      = "CASCADE_TEKTON_CONTROLLER"
	// EnvToolsCache overrides the tools cache folder
	// ($HOME/.cache/cascade-tools), as in .ci/build-tools.
	EnvToolsCache = "CASCADE_TOOLS_CACHE"
)

// LimitedUser is a user in every [Kube]'s token file with no rights beyond
// what RBAC grants any authenticated user (discovery): the subject of
// permission-denied tests. [Kube.UserKubeconfig] also knows "alice" and
// "bob", equally powerless until a test binds them a role.
const LimitedUser = "limited"

// kubeUsers are the non-admin users of the token file.
var kubeUsers = []string{LimitedUser, "alice", "bob"}

const (
	etcdReadyTimeout = 30 * time.Second
	// kubeReadyTimeout bounds the wait for /readyz: about 4 s on an idle
	// machine, much more while other builds load it.
	kubeReadyTimeout = 2 * time.Minute
	kubeStartTries   = 3
	// stopTimeout bounds the wait for a killed child to be reaped.
	stopTimeout = 10 * time.Second
	// logTail is how much of a failed component's log a test prints.
	logTail = 16 << 10
)

// Kube is an etcd and a kube-apiserver, child processes of the test on
// loopback, with state under t.TempDir(). There is no scheduler, kubelet or
// controller-manager: pods stay Pending unless a test patches their status,
// and namespaces get no default ServiceAccount unless [Kube.CreateNamespace]
// makes one.
type Kube struct {
	// URL is the API server's address, https://127.0.0.1:PORT.
	URL string
	// Kubeconfig is the path of a kubeconfig for the admin user (group
	// system:masters), with the API server's CA.
	Kubeconfig string

	dir        string
	caPEM      []byte
	adminToken string
	kcmToken   string
	tokens     map[string]string // user → bearer token
}

// StartKube starts etcd (Debian etcd-server) and kube-apiserver (built by
// .ci/build-tools, or $CASCADE_KUBE_APISERVER) on free loopback ports, with
// token authentication, RBAC authorization and a service-account signing
// key, waits until /readyz answers and writes an admin kubeconfig. Cleanup
// kills exactly those two processes and waits for them; when the test failed
// their logs' tails are printed. A missing binary fails the test in CI and
// skips it elsewhere.
func StartKube(t testing.TB) *Kube {
	t.Helper()
	etcdBin := requireEtcd(t)
	apiserverBin := requireTool(t, EnvKubeAPIServer, "kube-apiserver", KubeVersion, "kube-apiserver")
	start := time.Now()
	k, err := newKube(t.TempDir())
	if err != nil {
		t.Fatalf("starting kube: %v", err)
	}

	etcdURL, err := startRetrying(t, "etcd", func() (string, *child, error) { return k.startEtcd(t, etcdBin) })
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	etcdReady := time.Since(start)
	k.URL, err = startRetrying(t, "kube-apiserver", func() (string, *child, error) {
		return k.startAPIServer(t, apiserverBin, etcdURL)
	})
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	k.Kubeconfig = filepath.Join(k.dir, "admin.kubeconfig")
	if err := k.writeKubeconfig(k.Kubeconfig, "admin", k.adminToken); err != nil {
		t.Fatalf("starting kube: %v", err)
	}
	t.Logf("etcd ready in %v, kube-apiserver %s at %s in %v", etcdReady.Round(time.Millisecond), KubeVersion, k.URL, time.Since(start).Round(time.Millisecond))
	return k
}

// RESTConfig returns a new client configuration for the admin user.
func (k *Kube) RESTConfig() *rest.Config {
	return k.restConfig(k.adminToken)
}

// UserRESTConfig returns a new client configuration for user, one of
// [LimitedUser], "alice" or "bob"; another name fails the test.
func (k *Kube) UserRESTConfig(t testing.TB, user string) *rest.Config {
	t.Helper()
	return k.restConfig(k.userToken(t, user))
}

// UserKubeconfig writes a kubeconfig for user (see [Kube.UserRESTConfig])
// into a t.TempDir() and returns its path.
func (k *Kube) UserKubeconfig(t testing.TB, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := k.writeKubeconfig(path, user, k.userToken(t, user)); err != nil {
		t.Fatalf("writing kubeconfig for %q: %v", user, err)
	}
	return path
}

// CreateNamespace creates namespace name and its "default" ServiceAccount,
// which without a controller-manager nobody else creates (Tekton needs it
// for a TaskRun's pod). An existing ServiceAccount is not an error.
func (k *Kube) CreateNamespace(ctx context.Context, name string) error {
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		return fmt.Errorf("creating namespace %q: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %q: %w", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default service account of namespace %q: %w", name, err)
	}
	return nil
}

func (k *Kube) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            k.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: slices.Clone(k.caPEM)},
		QPS:             100,
		Burst:           200,
	}
}

func (k *Kube) userToken(t testing.TB, user string) string {
	t.Helper()
	tok, ok := k.tokens[user]
	if !ok {
		t.Fatalf("no token for user %q: StartKube knows only %q", user, kubeUsers)
	}
	return tok
}

func (k *Kube) writeKubeconfig(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: k.URL, CertificateAuthorityData: k.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = user
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// newKube writes the credentials into dir: the serving certificate (which
// is its own CA), the service-account key pair and the token file.
func newKube(dir string) (*Kube, error) {
	k := &Kube{dir: dir, tokens: map[string]string{}}
	certPEM, keyPEM, err := servingCert()
	if err != nil {
		return nil, err
	}
	k.caPEM = certPEM
	saPub, saKey, err := serviceAccountKey()
	if err != nil {
		return nil, err
	}
	k.adminToken = randomToken()
	var tokens strings.Builder
	fmt.Fprintf(&tokens, "%s,admin,admin,\"system:masters\"\n", k.adminToken)
	// kube-controller-manager runs every controller under its own
	// identity (no per-controller service accounts): it may manage all.
	k.kcmToken = randomToken()
	fmt.Fprintf(&tokens, "%s,system:kube-controller-manager,kube-controller-manager,\"system:masters\"\n", k.kcmToken)
	for _, u := range kubeUsers {
		k.tokens[u] = randomToken()
		fmt.Fprintf(&tokens, "%s,%s,%s\n", k.tokens[u], u, u)
	}
	files := map[string][]byte{
		"serving.crt": certPEM, "serving.key": keyPEM,
		"sa.pub": saPub, "sa.key": saKey,
		"tokens.csv": []byte(tokens.String()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return k, nil
}

func (k *Kube) startEtcd(t testing.TB, bin string) (string, *child, error) {
	client, err := freePort()
	if err != nil {
		return "", nil, err
	}
	peer, err := freePort()
	if err != nil {
		return "", nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	name := fmt.Sprintf("etcd-%d", client)
	c, err := startChild(t, filepath.Join(k.dir, name+".log"), bin, nil,
		"--name=testenv",
		"--data-dir="+filepath.Join(k.dir, name),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL,
		"--logger=zap", "--log-outputs=stderr", "--log-level=warn",
	)
	if err != nil {
		return "", nil, err
	}
	err = c.waitHTTP(etcdReadyTimeout, clientURL+"/health", http.DefaultClient, nil)
	return clientURL, c, err
}

func (k *Kube) startAPIServer(t testing.TB, bin, etcdURL string) (string, *child, error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	c, err := startChild(t, filepath.Join(k.dir, fmt.Sprintf("kube-apiserver-%d.log", port)), bin, nil,
		"--etcd-servers="+etcdURL,
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address=127.0.0.1",
		"--cert-dir="+filepath.Join(k.dir, "certs"),
		"--tls-cert-file="+filepath.Join(k.dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(k.dir, "serving.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(k.dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(k.dir, "sa.key"),
		"--token-auth-file="+filepath.Join(k.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	)
	if err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	err = c.waitHTTP(kubeReadyTimeout, url+"/readyz", client, http.Header{"Authorization": {"Bearer " + k.adminToken}})
	return url, c, err
}

// startRetrying runs start up to kubeStartTries times while it fails
// because a port picked free was taken before the child bound it.
func startRetrying(t testing.TB, name string, start func() (string, *child, error)) (string, error) {
	t.Helper()
	var errs []error
	for range kubeStartTries {
		url, c, err := start()
		if err == nil {
			return url, nil
		}
		if c == nil {
			return "", err
		}
		c.stop()
		log := c.tail(logTail)
		errs = append(errs, fmt.Errorf("%w; %s log:\n%s", err, name, log))
		if !strings.Contains(log, "address already in use") {
			break
		}
	}
	return "", errors.Join(errs...)
}

// child is a process the test started, with its output in a file.
type child struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // Wait's result, set before exited closes
}

// startChild starts bin with args, appending stdout and stderr to logPath,
// and registers a cleanup that kills exactly that process and waits for it,
// printing the log's tail if the test failed.
func startChild(t testing.TB, logPath, bin string, env []string, args ...string) (*child, error) {
	t.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log %s: %w", logPath, err)
	}
	c := &child{name: filepath.Base(bin), log: logPath, exited: make(chan struct{})}
	// Not exec.CommandContext: the process outlives this call and is ended
	// by the cleanup, by its own PID.
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if env != nil {
		c.cmd.Env = env
	}
	if err := c.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		out.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s (pid %d) log %s, last %d bytes:\n%s", c.name, c.cmd.Process.Pid, c.log, logTail, c.tail(logTail))
		}
	})
	return c, nil
}

// stop kills the process, exactly its PID, and waits for it (bounded).
// Safe to call more than once.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
	}
}

// running reports an error once the process has exited.
func (c *child) running() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited: %v", c.name, c.err)
	default:
		return nil
	}
}

// tail returns up to the last n bytes of the process's log.
func (c *child) tail(n int64) string {
	f, err := os.Open(c.log)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// waitHTTP polls GET url until it answers 200, the process exits, or
// timeout passes.
func (c *child) waitHTTP(timeout time.Duration, url string, client *http.Client, header http.Header) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("building readiness request: %w", err)
		}
		maps.Copy(req.Header, header)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited (%v) before answering GET %s", c.name, c.err, url)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w", c.name, timeout, last)
		case <-tick.C:
		}
	}
}

// ToolsCache returns the folder .ci/build-tools builds into:
// $CASCADE_TOOLS_CACHE, or $HOME/.cache/cascade-tools.
func ToolsCache() (string, error) {
	if dir := os.Getenv(EnvToolsCache); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the tools cache: %w", err)
	}
	return filepath.Join(home, ".cache", "cascade-tools"), nil
}

// toolPath is where .ci/build-tools puts binary of tool at version.
func toolPath(tool, version, binary string) (string, error) {
	cache, err := ToolsCache()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, tool+"-"+version, binary), nil
}

// requireTool returns the binary named by env, or else the one in the
// tools cache; when it is missing the test fails in CI and is skipped
// elsewhere, with the hint to run .ci/build-tools.
func requireTool(t testing.TB, env, tool, version, binary string) string {
	t.Helper()
	path := os.Getenv(env)
	from := "$" + env
	if path == "" {
		var err error
		if path, err = toolPath(tool, version, binary); err != nil {
			missing(t, "%v", err)
			return ""
		}
		from = "the tools cache"
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		missing(t, "%s %s not found in %s (%s): run .ci/build-tools, or set $%s", tool, version, from, path, env)
		return ""
	}
	return path
}

// requireEtcd finds Debian's etcd on PATH.
func requireEtcd(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		missing(t, "etcd not found on PATH (%v): run .ci/install-deps as root (or apt-get install -y etcd-server)", err)
		return ""
	}
	return path
}

// servingCert returns a self-signed ECDSA certificate for 127.0.0.1 and
// localhost that is also its own CA, and its key, both PEM.
func servingCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "testenv kube-apiserver"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the serving key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// serviceAccountKey returns an ECDSA key pair, PEM, for signing and
// verifying service-account tokens.
func serviceAccountKey() (pubPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the service-account public key: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the service-account key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b)
}
