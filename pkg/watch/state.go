package watch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/pkg/notify"
)

// stateVersion is the checkpoint format.
const stateVersion = 1

// State is the checkpoint: what jobwatch already judged, per object UID.
// It holds fingerprints, not objects, so it stays small (about 150 bytes an
// object before compression).
type State struct {
	Version int               `json:"version"`
	SavedAt time.Time         `json:"savedAt"`
	Objects map[string]*Entry `json:"objects"`
	// Pending are alerts accepted but not yet delivered, per sink.
	Pending map[string][]notify.Alert `json:"pending,omitempty"`
	// Threads are Slack parent messages per object UID (channel, ts).
	Threads map[string][2]string `json:"threads,omitempty"`
}

// Entry is one judged object.
type Entry struct {
	Kind        string `json:"k"`
	Namespace   string `json:"ns"`
	Name        string `json:"n"`
	Fingerprint string `json:"fp"`
	Score       int    `json:"s"`
	// Findings are the keys (rule|path) of the findings at or above low.
	Findings []string `json:"f,omitempty"`
	// Alerted is set once an alert for this object has been delivered.
	Alerted bool `json:"a,omitempty"`
}

func newState() *State { return &State{Version: stateVersion, Objects: map[string]*Entry{}} }

// Store loads and saves the checkpoint.
type Store interface {
	// Load returns the saved state, or (nil, nil) when none was saved yet
	// (the first run ever).
	Load(ctx context.Context) (*State, error)
	Save(ctx context.Context, s *State) error
	String() string
}

// ParseStore builds a Store from --state: a file path, or
// configmap://NAMESPACE/NAME (client required).
func ParseStore(spec string, client kubernetes.Interface) (Store, error) {
	if rest, ok := strings.CutPrefix(spec, "configmap://"); ok {
		ns, name, found := strings.Cut(rest, "/")
		if !found || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("state %q: want configmap://NAMESPACE/NAME", spec)
		}
		if client == nil {
			return nil, fmt.Errorf("state %q: a ConfigMap checkpoint needs a cluster", spec)
		}
		return &ConfigMapStore{Client: client, Namespace: ns, Name: name}, nil
	}
	if spec == "" {
		return nil, errors.New("state: empty location")
	}
	if strings.Contains(spec, "://") {
		return nil, fmt.Errorf("state %q: unknown scheme (want a file path or configmap://NAMESPACE/NAME)", spec)
	}
	return &FileStore{Path: spec}, nil
}

func encodeState(s *State) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeState(b []byte) (*State, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("checkpoint is not gzip: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 256<<20))
	if err != nil {
		return nil, err
	}
	s := newState()
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("checkpoint version %d, this jobwatch reads %d", s.Version, stateVersion)
	}
	if s.Objects == nil {
		s.Objects = map[string]*Entry{}
	}
	return s, nil
}

// FileStore keeps the checkpoint in a gzip'd JSON file, written atomically.
type FileStore struct{ Path string }

func (f *FileStore) String() string { return f.Path }

// Load implements Store.
func (f *FileStore) Load(context.Context) (*State, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	s, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", f.Path, err)
	}
	return s, nil
}

// Save implements Store.
func (f *FileStore) Save(_ context.Context, s *State) error {
	b, err := encodeState(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".jobwatch-state-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// ConfigMapStore keeps the checkpoint in binaryData["state.json.gz"] of a
// ConfigMap, so replicas share it. A ConfigMap holds at most 1 MiB: about
// 30,000 objects compressed.
type ConfigMapStore struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
}

const stateKey = "state.json.gz"

func (c *ConfigMapStore) String() string { return "configmap://" + c.Namespace + "/" + c.Name }

// Load implements Store.
func (c *ConfigMapStore) Load(ctx context.Context) (*State, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", c, err)
	}
	b, ok := cm.BinaryData[stateKey]
	if !ok {
		return nil, nil
	}
	s, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", c, err)
	}
	return s, nil
}

// Save implements Store. It overwrites whatever is there (only one
// jobwatch — the leader — writes).
func (c *ConfigMapStore) Save(ctx context.Context, s *State) error {
	b, err := encodeState(s)
	if err != nil {
		return err
	}
	if len(b) > 1000*1024 {
		return fmt.Errorf("state %s: checkpoint is %d bytes, over the ConfigMap limit; use a file --state", c, len(b))
	}
	cms := c.Client.CoreV1().ConfigMaps(c.Namespace)
	for attempt := 0; attempt < 5; attempt++ {
		cm, err := cms.Get(ctx, c.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: c.Namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "jobwatch", "app.kubernetes.io/component": "checkpoint"}},
				BinaryData: map[string][]byte{stateKey: b}}
			if _, err = cms.Create(ctx, cm, metav1.CreateOptions{}); err == nil || !apierrors.IsAlreadyExists(err) {
				return wrapState(c, err)
			}
			continue
		}
		if err != nil {
			return wrapState(c, err)
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[stateKey] = b
		if _, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			return wrapState(c, err)
		}
	}
	return fmt.Errorf("state %s: update kept conflicting", c)
}

func wrapState(c *ConfigMapStore, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state %s: %w", c, err)
}
