package analyze

import (
	"strings"
	"testing"
)

var benchSink Report

// BenchmarkAnalyzeCronJob: one CronJob with an inline script, env, volumes
// and a security context (the common case jobwatch sees).
func BenchmarkAnalyzeCronJob(b *testing.B) {
	a := mustAnalyzer(b)
	docs, err := Decode(strings.NewReader(benchCronJob))
	if err != nil || len(docs) != 1 {
		b.Fatal(err)
	}
	obj := *docs[0].Object
	b.ReportAllocs()
	for b.Loop() {
		benchSink = a.Analyze(obj)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "templates/s")
}

// BenchmarkAnalyzeCorpus: every fixture of the corpus in turn.
func BenchmarkAnalyzeCorpus(b *testing.B) {
	a := mustAnalyzer(b)
	cases := loadCorpus(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		benchSink = a.Analyze(cases[i%len(cases)].obj)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "templates/s")
}

const benchCronJob = `
apiVersion: batch/v1
kind: CronJob
metadata: {name: db-backup, namespace: payments, labels: {app: db-backup}}
spec:
  schedule: "15 2 * * *"
  successfulJobsHistoryLimit: 3
  jobTemplate:
    spec:
      ttlSecondsAfterFinished: 3600
      template:
        spec:
          restartPolicy: OnFailure
          serviceAccountName: db-backup
          securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
          volumes:
          - {name: scratch, emptyDir: {}}
          - {name: creds, secret: {secretName: s3-creds}}
          containers:
          - name: backup
            image: postgres:16-alpine
            command: ["/bin/sh", "-c"]
            args:
            - |
              set -euo pipefail
              pg_dump -h "$PGHOST" -U "$PGUSER" orders | gzip > /scratch/orders-$(date +%F).sql.gz
              aws s3 cp /scratch/orders-$(date +%F).sql.gz "s3://acme-backups/orders/" --sse aws:kms
              curl -fsS -X POST "$HEALTHCHECK_URL" || echo "ping failed"
            env:
            - {name: PGHOST, value: orders-db.payments.svc}
            - {name: PGUSER, value: backup}
            - {name: PGPASSWORD, valueFrom: {secretKeyRef: {name: orders-db, key: password}}}
            - {name: HEALTHCHECK_URL, value: "https://hc-ping.com/00000000-0000-0000-0000-000000000000"}
            volumeMounts:
            - {name: scratch, mountPath: /scratch}
            - {name: creds, mountPath: /creds, readOnly: true}
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}
            resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 512Mi}}
`
