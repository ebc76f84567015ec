package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// ControllerManagerControllers are the controllers
// [Kube.StartControllerManager] runs: the workload controllers, nothing that
// needs nodes, a cloud or service-account tokens.
const ControllerManagerControllers = "deployment,replicaset,statefulset,daemonset,cronjob,job"

// StartControllerManager starts kube-controller-manager (built by
// .ci/build-tools, or $CASCADE_KUBE_CONTROLLER_MANAGER) against k's API
// server, with the workload controllers only (ControllerManagerControllers),
// leader election off, its own identity (user system:kube-controller-manager,
// allowed everything) and its health endpoint on a free loopback port, and
// waits until /healthz answers. A Deployment then gets its ReplicaSet within
// milliseconds, a StatefulSet or DaemonSet its ControllerRevision, a CronJob
// its Jobs; pods stay Pending (no scheduler, no kubelet). Cleanup kills
// exactly that process; it runs before the API server's and etcd's, which
// were started first. A missing binary fails the test in CI and skips it
// elsewhere.
func (k *Kube) StartControllerManager(t testing.TB) {
	t.Helper()
	bin := requireTool(t, EnvKubeControllerManager, "kube-controller-manager", KubeVersion, "kube-controller-manager")
	start := time.Now()
	kubeconfig := filepath.Join(k.dir, "kube-controller-manager.kubeconfig")
	if err := k.writeKubeconfig(kubeconfig, "system:kube-controller-manager", k.kcmToken); err != nil {
		t.Fatalf("starting kube-controller-manager: %v", err)
	}
	url, err := startRetrying(t, "kube-controller-manager", func() (string, *child, error) {
		return k.startControllerManager(t, bin, kubeconfig)
	})
	if err != nil {
		t.Fatalf("starting kube-controller-manager: %v", err)
	}
	t.Logf("kube-controller-manager %s at %s in %v", KubeVersion, url, time.Since(start).Round(time.Millisecond))
}

func (k *Kube) startControllerManager(t testing.TB, bin, kubeconfig string) (string, *child, error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	c, err := startChild(t, filepath.Join(k.dir, fmt.Sprintf("kube-controller-manager-%d.log", port)), bin, nil,
		"--kubeconfig="+kubeconfig,
		"--controllers="+ControllerManagerControllers,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address=127.0.0.1",
		"--tls-cert-file="+filepath.Join(k.dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(k.dir, "serving.key"),
		// /healthz is always allowed; nothing else is served to anyone.
		"--authentication-skip-lookup=true",
		"--profiling=false",
	)
	if err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	err = c.waitHTTP(kubeReadyTimeout, url+"/healthz", client, nil)
	return url, c, err
}
