/** Batch: upload a CSV or XLSX of searches, see row errors, follow it, download the results. */
import { createResource, createSignal, For, Show } from "solid-js";
import { api } from "../api.ts";

export function Batch(props: { onTransfer: (id: string) => void }) {
  const [sites] = createResource(() => api.sites.list.query());
  const [id, setId] = createSignal<string | undefined>();
  const [status, { refetch }] = createResource(id, (batch) => api.batch.status.query({ id: batch }));
  const [error, setError] = createSignal("");
  let file!: HTMLInputElement,
    kind!: HTMLSelectElement,
    source!: HTMLSelectElement,
    destination!: HTMLSelectElement;

  const upload = async (e: Event) => {
    e.preventDefault();
    setError("");
    const f = file.files?.[0];
    if (!f) return setError("Choose a .csv or .xlsx file.");
    const bytes = new Uint8Array(await f.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    try {
      const r = await api.batch.upload.mutate({
        kind: kind.value as "query" | "transfer",
        filename: f.name,
        contentBase64: btoa(binary),
        sites: source.value
          ? [source.value]
          : (sites() ?? []).filter((s) => s.state === "online").map((s) => s.site),
        ...(kind.value === "transfer" ? { destination: { site: destination.value } } : {}),
      });
      setId(r.id);
      const poll = setInterval(async () => {
        await refetch();
        if (status()?.status === "done") clearInterval(poll);
      }, 1000);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const download = async (format: "csv" | "xlsx") => {
    const r = await api.batch.results.query({ id: id()!, format });
    const a = document.createElement("a");
    a.href = `data:application/octet-stream;base64,${r.contentBase64}`;
    a.download = r.filename;
    a.click();
  };

  return (
    <section class="card">
      <h2>Batch</h2>
      <p class="empty">
        One row per search; columns Patient ID, Patient Name, Birth Date, Accession Number, Study Date (a date
        or a-b), Modality.
      </p>
      <form class="row" onSubmit={upload}>
        <label>
          File<input type="file" accept=".csv,.xlsx" ref={file} />
        </label>
        <label>
          Kind
          <select ref={kind}>
            <option value="query">Query</option>
            <option value="transfer">Transfer</option>
          </select>
        </label>
        <label>
          Site (source)
          <select ref={source}>
            <option value="">All online sites</option>
            <For each={sites()}>{(s) => <option value={s.site}>{s.site}</option>}</For>
          </select>
        </label>
        <label>
          Destination (transfer)
          <select ref={destination}>
            <For each={sites()}>{(s) => <option value={s.site}>{s.site}</option>}</For>
          </select>
        </label>
        <button class="primary" type="submit">Upload and run</button>
      </form>
      <p class="error" role="alert">{error()}</p>
      <Show when={status()}>
        {(s) => (
          <div aria-label="Batch result">
            <p>
              {s().filename}:{" "}
              <span class={`state-${s().status === "done" ? "success" : "pending"}`}>{s().status}</span>,{" "}
              {s().rows} rows, {s().matches} studies found, {s().errors.length} rows with an error
            </p>
            <Show when={s().errors.length}>
              <table>
                <thead>
                  <tr>
                    <th>Row</th>
                    <th>Site</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={s().errors}>
                    {(e) => (
                      <tr>
                        <td>{String(e.row)}</td>
                        <td>{String(e.site)}</td>
                        <td class="error">{String(e.error)}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </Show>
            <Show when={s().status === "done"}>
              <div class="row">
                <button type="button" onClick={() => download("csv")}>Download CSV</button>
                <button type="button" onClick={() => download("xlsx")}>Download XLSX</button>
                <Show when={s().transferId}>
                  <button type="button" onClick={() => props.onTransfer(s().transferId!)}>
                    Open the transfer
                  </button>
                </Show>
              </div>
            </Show>
          </div>
        )}
      </Show>
    </section>
  );
}
