import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { api, ApiError, unwrap } from "../api/client";
import { SignInCard } from "../session/SignInCard";
import { useSession } from "../session/SessionProvider";
import { EmptyState, Notice } from "../ui/Notice";
import { useTitle } from "../ui/useTitle";
import { CompareBar } from "./CompareBar";
import { JobDetail } from "./JobDetail";
import { JobList, shortId } from "./JobList";
import { ModelsPanel } from "./ModelsPanel";
import { TrainForm } from "./TrainForm";
import type { JobRequest } from "./trainForm";
import { isActive } from "./useJobRun";
import { modelTitlesInWords } from "./zoo";

const PAGE_SIZE = 10;

export function TrainPage() {
  const session = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const selected = params.get("job");
  useTitle(selected ? `Run ${shortId(selected)}` : "Train");
  const [page, setPage] = useState(1);
  const [formOpen, setFormOpen] = useState(false);
  // Kept across pages of the list, so runs far apart can be compared.
  const [compare, setCompare] = useState<string[]>([]);
  const toggleCompare = (id: string) =>
    setCompare((ids) => (ids.includes(id) ? ids.filter((i) => i !== id) : [...ids, id]));
  const trainButton = useRef<HTMLButtonElement>(null);
  const formHeading = useRef<HTMLHeadingElement>(null);

  const queryClient = useQueryClient();
  // Poll briskly while a run is queued or running; the open run itself updates over the WebSocket.
  const jobs = useQuery({
    queryKey: ["jobs", page],
    queryFn: () => unwrap(api.GET("/api/jobs", { params: { query: { page, size: PAGE_SIZE } } })),
    refetchInterval: (q) => (q.state.data?.items.some((j) => isActive(j.status)) ? 5000 : 20000),
  });
  const models = useQuery({
    queryKey: ["models"],
    queryFn: () => unwrap(api.GET("/api/models")),
    refetchInterval: 15000,
  });
  const datasets = useQuery({ queryKey: ["datasets"], queryFn: () => unwrap(api.GET("/api/datasets")) });
  const config = useQuery({ queryKey: ["config"], queryFn: () => unwrap(api.GET("/api/config")) });

  useEffect(() => {
    if (formOpen) formHeading.current?.focus();
  }, [formOpen]);

  const refresh = () => {
    for (const key of ["jobs", "models", "active-model", "live-scores"])
      void queryClient.invalidateQueries({ queryKey: [key] });
  };

  async function startJob(request: JobRequest) {
    try {
      const job = await unwrap(api.POST("/api/jobs", { body: request as never }));
      setFormOpen(false);
      setPage(1);
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
      navigate(`/train?job=${encodeURIComponent(job.id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) session.expired();
      throw e;
    }
  }

  function closeForm() {
    setFormOpen(false);
    trainButton.current?.focus();
  }

  const list = jobs.data;
  const pages = list ? Math.max(1, Math.ceil(list.total / (list.size || PAGE_SIZE))) : 1;
  const backendDown = jobs.error?.unavailable ?? false;

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Training</h1>
          <p className="sub">
            Train {modelTitlesInWords()} with walk-forward cross-validation on the worker queue.
          </p>
        </div>
        <div className="page-actions">
          {config.data?.flower_url && (
            <a className="btn btn-ghost" href={config.data.flower_url} target="_blank" rel="noreferrer">
              Flower queue monitor ↗
            </a>
          )}
          {session.signedIn && (
            <button type="button" className="btn btn-ghost" onClick={() => void session.signOut()}>
              Sign out
            </button>
          )}
          <button
            ref={trainButton}
            type="button"
            className="btn btn-primary"
            aria-expanded={formOpen}
            aria-controls="train-panel"
            onClick={() => setFormOpen((o) => !o)}
          >
            Train a model
          </button>
        </div>
      </div>

      {backendDown && (
        <Notice tone="bad" title="Backend unavailable.">
          {jobs.error?.message} The list refreshes by itself when it is back.
        </Notice>
      )}

      {session.signedIn === false && !formOpen && <SignInCard />}

      {formOpen && (
        <section className="card" id="train-panel" aria-labelledby="train-form-title">
          <div className="card-head">
            <h2 id="train-form-title" ref={formHeading} tabIndex={-1}>
              New training run
            </h2>
          </div>
          {session.signedIn === false ? (
            <SignInCard />
          ) : datasets.error && !datasets.data ? (
            <Notice tone="bad" title="Could not list datasets.">
              {datasets.error.message}
            </Notice>
          ) : datasets.data && datasets.data.length === 0 ? (
            <EmptyState icon="▤" title="No datasets yet">
              Import one first, for example <code>lob data import ../shared/data/… --name btc</code>.
            </EmptyState>
          ) : datasets.data ? (
            <TrainForm datasets={datasets.data} onSubmit={startJob} onCancel={closeForm} />
          ) : (
            <p className="muted">Loading datasets…</p>
          )}
        </section>
      )}

      <div className={`grid grid-train${selected ? " has-job" : ""}`}>
        <div className="stack job-list-col">
          <section className="card" aria-labelledby="runs-title">
            <div className="card-head">
              <h2 id="runs-title">Runs</h2>
              <span className="hint">{list ? `${list.total} total` : ""}</span>
            </div>
            {list ? (
              <JobList
                jobs={list.items}
                selected={selected}
                page={page}
                pages={pages}
                total={list.total}
                onPage={setPage}
                compare={compare}
                onCompareToggle={toggleCompare}
              />
            ) : jobs.error ? (
              <Notice tone="bad">{jobs.error.message}</Notice>
            ) : (
              <p className="muted small">Loading runs…</p>
            )}
            {(compare.length > 0 || list?.items.some((j) => j.status === "succeeded")) && (
              <CompareBar selected={compare} onClear={() => setCompare([])} />
            )}
          </section>
          <ModelsPanel models={models.data ?? []} error={models.error} onChanged={refresh} />
        </div>
        <div className="stack">
          {selected ? (
            <JobDetail key={selected} jobId={selected} models={models.data ?? []} onChanged={refresh} />
          ) : (
            <section className="card job-empty">
              <EmptyState icon="◎" title="Pick a run to watch it live">
                Progress, loss and accuracy curves, test metrics and the confusion matrix appear here.
              </EmptyState>
            </section>
          )}
        </div>
      </div>
    </div>
  );
}
