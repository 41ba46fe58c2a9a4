package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/rest"
	"github.com/conveyorci/conveyor/store"
)

func whoami(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	return rest.JSON(w, http.StatusOK, map[string]string{"name": id.Name, "role": id.Role.String()})
}

// KeyView is an access key as the REST API shows it.
type KeyView struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	Role            string `json:"role"`
	Description     string `json:"description,omitempty"`
	Created         int64  `json:"created"`
	LastUsed        int64  `json:"lastUsed,omitempty"`
}

func keyView(k store.AccessKey) KeyView {
	v := KeyView{AccessKeyID: k.ID, SecretAccessKey: k.Secret, Role: k.Role, Description: k.Description, Created: k.Created.Unix()}
	if !k.LastUsed.IsZero() {
		v.LastUsed = k.LastUsed.Unix()
	}
	return v
}

func listKeys(keys *auth.Keys) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		list, err := keys.List(r.Context())
		if err != nil {
			return err
		}
		out := make([]KeyView, 0, len(list))
		for _, k := range list {
			out = append(out, keyView(k))
		}
		return rest.JSON(w, http.StatusOK, map[string]any{"keys": out})
	}
}

func createKey(keys *auth.Keys, log *slog.Logger) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Role        string `json:"role"`
			Description string `json:"description"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			return rest.BadRequest("body must be JSON {\"role\": …, \"description\": …}: %v", err)
		}
		role, err := auth.ParseRole(in.Role)
		if err != nil {
			return rest.BadRequest("%v", err)
		}
		if len(in.Description) > 256 {
			return rest.BadRequest("description must be at most 256 characters")
		}
		k, err := keys.Create(r.Context(), role, in.Description)
		if err != nil {
			return err
		}
		id, _ := auth.FromContext(r.Context())
		log.Info("access key created", "key", k.ID, "role", k.Role, "by", id.Name)
		return rest.JSON(w, http.StatusCreated, keyView(k))
	}
}

func deleteKey(keys *auth.Keys) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		keyID := chi.URLParam(r, "id")
		if id, _ := auth.FromContext(r.Context()); id.Name == "key/"+keyID {
			return rest.Errorf(http.StatusConflict, "ConflictException", "a key cannot delete itself; use another admin key")
		}
		if err := keys.Delete(r.Context(), keyID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func uploadObject(u *source.Uploads) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		bucket, key := chi.URLParam(r, "bucket"), chi.URLParam(r, "*")
		if err := source.ValidateBucketKey(bucket, key); err != nil {
			return rest.BadRequest("%v", err)
		}
		id, _ := auth.FromContext(r.Context())
		res, err := u.Put(r.Context(), bucket, key, r.Body, id.Name)
		if err != nil {
			return err
		}
		return rest.JSON(w, http.StatusOK, map[string]any{
			"bucket": bucket, "key": key, "versionId": res.Object.VersionID, "eTag": res.Object.ETag,
			"sha256": res.Object.SHA256, "size": res.Object.Size, "startedExecutions": res.Executions,
		})
	}
}

func listObjectVersions(db *store.DB) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		bucket, key := chi.URLParam(r, "bucket"), chi.URLParam(r, "*")
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 100
		}
		list, err := db.Read().ListObjectVersions(r.Context(), bucket, key, limit)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(list))
		for _, o := range list {
			out = append(out, map[string]any{"versionId": o.VersionID, "eTag": o.ETag, "sha256": o.SHA256,
				"size": o.Size, "created": o.Created.Unix()})
		}
		return rest.JSON(w, http.StatusOK, map[string]any{"bucket": bucket, "key": key, "versions": out})
	}
}

func downloadArtifact(blobs *store.Blobs) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sha := chi.URLParam(r, "sha256")
		f, err := blobs.Open(sha)
		if err != nil {
			return err
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+sha[:12]+`.zip"`)
		http.ServeContent(w, r, sha+".zip", time.Time{}, f)
		return nil
	}
}
