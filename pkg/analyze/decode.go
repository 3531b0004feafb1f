package analyze

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Document is one object read from a manifest stream.
type Document struct {
	// Index is the position of the document in its stream (0-based); items
	// of a List share their List's index and carry Item.
	Index int
	Item  int // position inside a List, or -1
	// Kind and APIVersion as written.
	Kind, APIVersion string
	// Object is set for Jobs and CronJobs; other kinds leave it nil.
	Object *Object
	// Name and Namespace as written (for skipped kinds too).
	Name, Namespace string
}

// DecodeError names the document that could not be read.
type DecodeError struct {
	Index int
	Item  int
	Err   error
}

func (e *DecodeError) Error() string {
	if e.Item >= 0 {
		return fmt.Sprintf("document %d, item %d: %v", e.Index, e.Item, e.Err)
	}
	return fmt.Sprintf("document %d: %v", e.Index, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// maxDocumentBytes bounds one YAML or JSON document.
const maxDocumentBytes = 4 << 20

// Decode reads every YAML or JSON document of r (multi-document YAML,
// JSON, and List kinds). Jobs and CronJobs (batch/v1, and batch/v1beta1
// CronJobs) become Objects; other kinds are returned with Object nil so the
// caller can note them. The first malformed document stops decoding with a
// *DecodeError.
func Decode(r io.Reader) ([]Document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	var docs []Document
	for index := 0; ; index++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, &DecodeError{Index: index, Item: -1, Err: err}
		}
		if len(raw) > maxDocumentBytes {
			return docs, &DecodeError{Index: index, Item: -1, Err: fmt.Errorf("document larger than %d bytes", maxDocumentBytes)}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			index--
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return docs, &DecodeError{Index: index, Item: -1, Err: err}
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			index--
			continue
		}
		got, err := decodeJSON(js, index, -1)
		if err != nil {
			return docs, err
		}
		docs = append(docs, got...)
	}
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func decodeJSON(js []byte, index, item int) ([]Document, error) {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, &DecodeError{Index: index, Item: item, Err: fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	if tm.Kind == "" {
		return nil, &DecodeError{Index: index, Item: item, Err: errors.New("no kind")}
	}
	if strings.HasSuffix(tm.Kind, "List") && item < 0 {
		var out []Document
		for i, it := range tm.Items {
			d, err := decodeJSON(it, index, i)
			if err != nil {
				return out, err
			}
			out = append(out, d...)
		}
		return out, nil
	}
	doc := Document{Index: index, Item: item, Kind: tm.Kind, APIVersion: tm.APIVersion, Name: tm.Metadata.Name, Namespace: tm.Metadata.Namespace}
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	if group != "batch" {
		return []Document{doc}, nil
	}
	switch tm.Kind {
	case KindJob:
		var j batchv1.Job
		if err := json.Unmarshal(js, &j); err != nil {
			return nil, &DecodeError{Index: index, Item: item, Err: fmt.Errorf("job %s: %w", tm.Metadata.Name, err)}
		}
		defaultVolumes(&j.Spec.Template.Spec)
		o := FromJob(&j)
		doc.Object = &o
	case KindCronJob:
		var c batchv1.CronJob
		if err := json.Unmarshal(js, &c); err != nil {
			return nil, &DecodeError{Index: index, Item: item, Err: fmt.Errorf("CronJob %s: %w", tm.Metadata.Name, err)}
		}
		defaultVolumes(&c.Spec.JobTemplate.Spec.Template.Spec)
		o := FromCronJob(&c)
		doc.Object = &o
	}
	return []Document{doc}, nil
}

// defaultVolumes applies the one API-server default that changes what the
// rules see: a volume written without a source is stored as an emptyDir.
func defaultVolumes(spec *corev1.PodSpec) {
	for i := range spec.Volumes {
		if reflect.ValueOf(spec.Volumes[i].VolumeSource).IsZero() {
			spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
}
