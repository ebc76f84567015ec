package plan

// WorkloadStatus is what the cluster target does, or did, with one live
// workload (package rollout decides; see its constants).
type WorkloadStatus string

// Workload is one live workload of a configured cluster that references
// the updated repository: whether it rolls to the new digest, and why not.
type Workload struct {
	// Cluster is the name of the cluster in the config.
	Cluster   string         `json:"cluster,omitempty"`
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Status    WorkloadStatus `json:"status"`
	Reason    string         `json:"reason,omitempty"`
	// Changes are the containers it moves (or would move).
	Changes []WorkloadChange `json:"changes,omitempty"`
}

// ID is "Kind namespace/name".
func (w Workload) ID() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// WorkloadChange is one container's image moved.
type WorkloadChange struct {
	// Field is the container's place, e.g. "containers[name=web].image".
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}
