// Command kubelet-env prints the environment a kubelet would start one
// container of a Pod with, so that jobwatch's tests can run the real binary
// with exactly what a cluster gives it. It follows the kubelet's
// makeEnvironmentVariables (pkg/kubelet/kubelet_pods.go, v1.37) step by step
// and calls the kubelet's own functions for each part:
//
//   - service links: envvars.FromServices over the "kubernetes" Service of
//     the default namespace (always) and, when spec.enableServiceLinks is
//     true, every Service of the pod's namespace with a cluster IP;
//   - envFrom and env (configMapKeyRef, secretKeyRef) read from the API server;
//   - Downward API fieldRef via ConvertDownwardAPIFieldLabel and
//     fieldpath.ExtractFieldPathAsString, resourceFieldRef via
//     resource.ExtractContainerResourceValue after defaulting limits to the
//     node's allocatable (MergeContainerResourceLimits);
//   - $(VAR) expansion via the kubelet's forked expansion package.
//
// The Pod and Services are read from the API server after admission and
// defaulting, so enableServiceLinks and the cluster IPs are the real ones.
// What the container runtime adds (PATH and HOME from the image, HOSTNAME)
// is not the kubelet's and is left to the caller.
//
// Usage: kubelet-env --kubeconfig K --namespace NS --pod NAME --container C
// [--pod-ip IP] [--host-ip IP] [--node-name N] [--allocatable-memory Q]
// [--allocatable-cpu Q]. Output: JSON {"env": ["NAME=VALUE", …] sorted by
// name, "command": […], "args": […]}, command and args $(VAR)-expanded by
// kubecontainer.ExpandContainerCommandAndArgs as the kubelet does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/api/v1/resource"
	podshelper "k8s.io/kubernetes/pkg/apis/core/pods"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/kubernetes/pkg/fieldpath"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

type options struct {
	kubeconfig, namespace, pod, container string
	podIP, hostIP, nodeName               string
	allocMemory, allocCPU                 string
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server")
	flag.StringVar(&o.namespace, "namespace", "", "the pod's namespace")
	flag.StringVar(&o.pod, "pod", "", "the pod's name")
	flag.StringVar(&o.container, "container", "", "the container's name")
	flag.StringVar(&o.podIP, "pod-ip", "192.0.2.10", "status.podIP (TEST-NET-1 by default: never dialled)")
	flag.StringVar(&o.hostIP, "host-ip", "192.0.2.1", "status.hostIP")
	flag.StringVar(&o.nodeName, "node-name", "node-1", "spec.nodeName, as the scheduler would bind it")
	flag.StringVar(&o.allocMemory, "allocatable-memory", "8Gi", "the node's allocatable memory (default for unset limits)")
	flag.StringVar(&o.allocCPU, "allocatable-cpu", "4", "the node's allocatable CPU")
	flag.Parse()
	out, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-env:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-env:", err)
		os.Exit(1)
	}
}

type result struct {
	Env     []string `json:"env"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
}

func run(ctx context.Context, o options) (*result, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	pod, err := cs.CoreV1().Pods(o.namespace).Get(ctx, o.pod, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = o.nodeName
	}
	var container *v1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == o.container {
			container = &pod.Spec.Containers[i]
		}
	}
	if container == nil {
		return nil, fmt.Errorf("pod %s/%s has no container %q", o.namespace, o.pod, o.container)
	}
	if pod.Spec.EnableServiceLinks == nil {
		return nil, fmt.Errorf("nil pod.spec.enableServiceLinks encountered, cannot construct envvars")
	}
	serviceEnv, err := serviceEnvMap(ctx, cs, pod.Namespace, *pod.Spec.EnableServiceLinks)
	if err != nil {
		return nil, err
	}
	tmpEnv := map[string]string{}
	for _, ef := range container.EnvFrom {
		data, found, err := envFromSource(ctx, cs, pod.Namespace, ef)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		for k, v := range data {
			tmpEnv[ef.Prefix+k] = v
		}
	}
	allocatable := v1.ResourceList{}
	if q, err := apiresource.ParseQuantity(o.allocMemory); err == nil {
		allocatable[v1.ResourceMemory] = q
	}
	if q, err := apiresource.ParseQuantity(o.allocCPU); err == nil {
		allocatable[v1.ResourceCPU] = q
	}
	mapping := expansion.MappingFuncFor(tmpEnv, serviceEnv)
	for _, ev := range container.Env {
		val := ev.Value
		switch {
		case val != "":
			val = expansion.Expand(val, mapping)
		case ev.ValueFrom == nil:
		case ev.ValueFrom.FieldRef != nil:
			val, err = fieldValue(ev.ValueFrom.FieldRef, pod, o)
		case ev.ValueFrom.ResourceFieldRef != nil:
			c := container.DeepCopy()
			resource.MergeContainerResourceLimits(c, allocatable)
			val, err = resource.ExtractContainerResourceValue(ev.ValueFrom.ResourceFieldRef, c)
		case ev.ValueFrom.ConfigMapKeyRef != nil:
			var ok bool
			val, ok, err = keyRef(ctx, cs, pod.Namespace, ev.ValueFrom.ConfigMapKeyRef.Name, ev.ValueFrom.ConfigMapKeyRef.Key, ev.ValueFrom.ConfigMapKeyRef.Optional, false)
			if err == nil && !ok {
				continue
			}
		case ev.ValueFrom.SecretKeyRef != nil:
			var ok bool
			val, ok, err = keyRef(ctx, cs, pod.Namespace, ev.ValueFrom.SecretKeyRef.Name, ev.ValueFrom.SecretKeyRef.Key, ev.ValueFrom.SecretKeyRef.Optional, true)
			if err == nil && !ok {
				continue
			}
		default:
			return nil, fmt.Errorf("env %s: a valueFrom this helper does not model", ev.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		tmpEnv[ev.Name] = val
	}
	// Service variables come last and never override the container's own.
	for k, v := range serviceEnv {
		if _, set := tmpEnv[k]; !set {
			tmpEnv[k] = v
		}
	}
	out := &result{}
	envs := make([]kubecontainer.EnvVar, 0, len(tmpEnv))
	for k, v := range tmpEnv {
		out.Env = append(out.Env, k+"="+v)
		envs = append(envs, kubecontainer.EnvVar{Name: k, Value: v})
	}
	sort.Strings(out.Env)
	out.Command, out.Args = kubecontainer.ExpandContainerCommandAndArgs(container, envs)
	return out, nil
}

// serviceEnvMap is the kubelet's getServiceEnvVarMap.
func serviceEnvMap(ctx context.Context, cs kubernetes.Interface, ns string, enableServiceLinks bool) (map[string]string, error) {
	byName := map[string]*v1.Service{}
	def, err := cs.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the kubernetes Service: %w", err)
	}
	if v1helper.IsServiceIPSet(def) {
		byName[def.Name] = def
	}
	if enableServiceLinks {
		list, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			s := &list.Items[i]
			if !v1helper.IsServiceIPSet(s) {
				continue
			}
			if ns == metav1.NamespaceDefault && s.Name == "kubernetes" {
				continue
			}
			byName[s.Name] = s
		}
	}
	services := make([]*v1.Service, 0, len(byName))
	for _, s := range byName {
		services = append(services, s)
	}
	m := map[string]string{}
	for _, e := range envvars.FromServices(services) {
		m[e.Name] = e.Value
	}
	return m, nil
}

// fieldValue is the kubelet's podFieldSelectorRuntimeValue.
func fieldValue(fs *v1.ObjectFieldSelector, pod *v1.Pod, o options) (string, error) {
	path, _, err := podshelper.ConvertDownwardAPIFieldLabel(fs.APIVersion, fs.FieldPath, "")
	if err != nil {
		return "", err
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return o.hostIP, nil
	case "status.podIP", "status.podIPs":
		return o.podIP, nil
	}
	return fieldpath.ExtractFieldPathAsString(pod, path)
}

func envFromSource(ctx context.Context, cs kubernetes.Interface, ns string, ef v1.EnvFromSource) (map[string]string, bool, error) {
	switch {
	case ef.ConfigMapRef != nil:
		return sourceData(ctx, cs, ns, ef.ConfigMapRef.Name, false, ef.ConfigMapRef.Optional)
	case ef.SecretRef != nil:
		return sourceData(ctx, cs, ns, ef.SecretRef.Name, true, ef.SecretRef.Optional)
	}
	return nil, false, nil
}

func keyRef(ctx context.Context, cs kubernetes.Interface, ns, name, key string, optional *bool, secret bool) (string, bool, error) {
	data, found, err := sourceData(ctx, cs, ns, name, secret, optional)
	if err != nil || !found {
		return "", false, err
	}
	v, ok := data[key]
	if !ok && (optional == nil || !*optional) {
		kind := "ConfigMap"
		if secret {
			kind = "Secret"
		}
		return "", false, fmt.Errorf("couldn't find key %v in %s %v/%v", key, kind, ns, name)
	}
	return v, ok, nil
}

// sourceData reads a ConfigMap's or Secret's data; an optional one that
// does not exist is not found, without an error.
func sourceData(ctx context.Context, cs kubernetes.Interface, ns, name string, secret bool, optional *bool) (map[string]string, bool, error) {
	opt := optional != nil && *optional
	if !secret {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && opt {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return cm.Data, true, nil
	}
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && opt {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		m[k] = string(v)
	}
	return m, true, nil
}
