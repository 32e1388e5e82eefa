// kfp-apiserver serves KFP 2.0.5's own API server (pipelines, versions, experiments, runs,
// the task cache the driver and launcher use) on 127.0.0.1, for `make kfp-check`.
//
// It is the wiring of KFP's backend/src/apiserver/main.go and nothing else: every request
// is answered by KFP's server and resource packages and KFP's SQL stores. What stands in
// is KFP's own test client manager (resource.NewFakeClientManager), and with it:
//   - the Kubernetes and Argo clients (no cluster here): a run's Argo Workflow is kept in
//     memory instead of being created, and GET /kfp-check/workflows hands it out;
//   - the database: KFP's stores on an in-memory SQLite (gorm), where KFP runs on MySQL;
//   - the object store for uploaded pipeline files: in memory, where KFP uses MinIO.
//
// The last two could run here (MariaDB, a MinIO build) and are not wired yet.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net"
	"net/http"

	"github.com/golang/glog"
	"github.com/gorilla/mux"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	apiv1beta1 "github.com/kubeflow/pipelines/backend/api/v1beta1/go_client"
	apiv2beta1 "github.com/kubeflow/pipelines/backend/api/v2beta1/go_client"
	"github.com/kubeflow/pipelines/backend/src/apiserver/resource"
	"github.com/kubeflow/pipelines/backend/src/apiserver/server"
	"github.com/kubeflow/pipelines/backend/src/common/util"
	"github.com/spf13/viper"
	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	grpcAddress = flag.String("grpc", "127.0.0.1:8887", "gRPC address (the driver's and launcher's cache service)")
	httpAddress = flag.String("http", "127.0.0.1:8888", "HTTP address (what kfp.Client talks to)")
	namespace   = flag.String("namespace", "kubeflow", "the namespace KFP is installed in")
)

func main() {
	flag.Parse()
	// As KFP's initConfig: configuration from the environment, and the pod's namespace.
	viper.AutomaticEnv()
	viper.Set("POD_NAMESPACE", *namespace)
	clients, err := resource.NewFakeClientManager(util.NewRealTime(), util.NewUUIDGenerator())
	if err != nil {
		glog.Fatalf("client manager: %v", err)
	}
	resources := resource.NewResourceManager(clients, &resource.ResourceManagerOptions{})
	if _, err := resources.CreateDefaultExperiment(""); err != nil {
		glog.Fatalf("default experiment: %v", err)
	}
	listener, err := net.Listen("tcp", *grpcAddress)
	if err != nil {
		glog.Fatalf("gRPC listener: %v", err)
	}
	go serveGRPC(listener, resources)
	serveHTTP(resources, clients)
}

func serveGRPC(listener net.Listener, resources *resource.ResourceManager) {
	s := grpc.NewServer(grpc.MaxRecvMsgSize(math.MaxInt32))
	experiments := server.NewExperimentServer(resources, &server.ExperimentServerOptions{})
	pipelines := server.NewPipelineServer(resources, &server.PipelineServerOptions{})
	runs := server.NewRunServer(resources, &server.RunServerOptions{})
	apiv1beta1.RegisterExperimentServiceServer(s, experiments)
	apiv1beta1.RegisterPipelineServiceServer(s, pipelines)
	apiv1beta1.RegisterRunServiceServer(s, runs)
	apiv1beta1.RegisterTaskServiceServer(s, server.NewTaskServer(resources))
	apiv2beta1.RegisterExperimentServiceServer(s, experiments)
	apiv2beta1.RegisterPipelineServiceServer(s, pipelines)
	apiv2beta1.RegisterRunServiceServer(s, runs)
	if err := s.Serve(listener); err != nil {
		glog.Fatalf("gRPC: %v", err)
	}
}

type handlerFromEndpoint func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error

func serveHTTP(resources *resource.ResourceManager, clients *resource.FakeClientManager) {
	ctx := context.Background()
	gateway := runtime.NewServeMux()
	dial := []grpc.DialOption{grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32))}
	for _, register := range []handlerFromEndpoint{
		apiv1beta1.RegisterExperimentServiceHandlerFromEndpoint,
		apiv1beta1.RegisterPipelineServiceHandlerFromEndpoint,
		apiv1beta1.RegisterRunServiceHandlerFromEndpoint,
		apiv2beta1.RegisterExperimentServiceHandlerFromEndpoint,
		apiv2beta1.RegisterPipelineServiceHandlerFromEndpoint,
		apiv2beta1.RegisterRunServiceHandlerFromEndpoint,
	} {
		if err := register(ctx, gateway, *grpcAddress, dial); err != nil {
			glog.Fatalf("HTTP gateway: %v", err)
		}
	}
	upload := server.NewPipelineUploadServer(resources, &server.PipelineUploadServerOptions{})
	top := mux.NewRouter()
	top.HandleFunc("/apis/v1beta1/pipelines/upload", upload.UploadPipelineV1)
	top.HandleFunc("/apis/v1beta1/pipelines/upload_version", upload.UploadPipelineVersionV1)
	top.HandleFunc("/apis/v2beta1/pipelines/upload", upload.UploadPipeline)
	top.HandleFunc("/apis/v2beta1/pipelines/upload_version", upload.UploadPipelineVersion)
	top.HandleFunc("/apis/v2beta1/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"commit_sha":"kfp-check","tag_name":"2.0.5","multi_user":false}`)
	})
	top.PathPrefix("/apis/").Handler(gateway)
	// What Argo's controller would watch for: the Workflows the API server created.
	top.HandleFunc("/kfp-check/workflows", func(w http.ResponseWriter, r *http.Request) {
		workflows := map[string]json.RawMessage{}
		for name := range clients.ExecClientFake.GetWorkflowKeys() {
			spec, err := clients.ExecClientFake.Execution(*namespace).Get(r.Context(), name, metav1.GetOptions{})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			workflows[name] = json.RawMessage(spec.ToStringForStore())
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(workflows)
	})
	glog.Fatal(http.ListenAndServe(*httpAddress, top))
}
