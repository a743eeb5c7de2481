/**
 * Fills a real agent.db (the agent's own schema and migrations, agent/index/db.ts) as a year at a busy site
 * leaves it: patients, studies of two series, their instances, two routes' `done` queue rows per instance,
 * some dead, failed and pending rows, and conflicts. Rows go in by direct SQL in large transactions (no
 * files are written: queries, counts and sweeps need only the index). For scale tests and measurements:
 *
 *   deno run -A tests/support/big_index.ts DATA_DIR [--scale 1] [--seed 1]
 *
 * Scale 1 is 300 000 studies, 3 000 000 instances and 6 000 000 done queue rows; `--scale 0.0333` a
 * thirtieth. Deterministic: the same scale gives the same rows.
 */
import * as path from "node:path";
import { Database } from "../../agent/index/db.ts";

export interface BigIndexOptions {
  /** 1: a year at a busy site (300k studies, 3M instances, 6M done rows). */
  scale?: number;
  /** The newest row's time (ms since epoch); rows spread over the year before it. */
  now?: number;
  /** Called after each transaction with the instances written so far. */
  progress?: (instances: number, total: number) => void;
}

export interface BigIndexCounts {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  done: number;
  dead: number;
  failed: number;
  pending: number;
  conflicts: number;
}

/** Studies per patient, series per study and instances per series at every scale. */
const STUDIES_PER_PATIENT = 3;
const SERIES_PER_STUDY = 2;
const INSTANCES_PER_SERIES = 5;
const YEAR = 365 * 24 * 3600 * 1000;
const ROOT = "1.2.826.0.1.3680043.8.498.77";
const MODALITIES = ["CT", "MR", "CR", "US", "DX", "MG", "PT", "NM"];
const SURNAMES = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES", "MILLER"];
const GIVEN = ["JOHN", "MARY", "ANNA", "PETER", "LUCY", "OMAR", "YUKI", "IVAN"];
/** The two routes every instance went through, each to its own destination. */
export const BIG_ROUTES = [{ route: "to-pacs", destination: "pacs" }, {
  route: "to-research",
  destination: "research",
}];
const ROWS_PER_TRANSACTION = 20_000;

/** The birth date of generated patient `p` (0-based). */
const birthDate = (p: number) => `19${String(40 + (p % 60)).padStart(2, "0")}0101`;

/** The identifiers the generator gives study `s` (0-based), for tests that query one. */
export function bigStudy(s: number) {
  const patient = Math.floor(s / STUDIES_PER_PATIENT);
  return {
    studyInstanceUid: `${ROOT}.1.${s + 1}`,
    patientId: `PID${String(patient + 1).padStart(8, "0")}`,
    patientName: `${SURNAMES[patient % SURNAMES.length]}${Math.floor(patient / SURNAMES.length)}^${
      GIVEN[patient % GIVEN.length]
    }`,
    accessionNumber: `ACC${String(s + 1).padStart(9, "0")}`,
    modality: MODALITIES[s % MODALITIES.length],
  };
}

/** Fills `db` (freshly opened, empty) and returns what it wrote. */
export function fillBigIndex(db: Database, options: BigIndexOptions = {}): BigIndexCounts {
  const scale = options.scale ?? 1;
  const now = options.now ?? Date.now();
  const studies = Math.max(1, Math.round(300_000 * scale));
  const patients = Math.ceil(studies / STUDIES_PER_PATIENT);
  const total = studies * SERIES_PER_STUDY * INSTANCES_PER_SERIES;
  const st = {
    patient: db.statement(
      `INSERT INTO patients (pk, patient_id, patient_name, patient_birth_date, patient_sex,
      num_studies, num_series, num_instances) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    study: db.statement(`INSERT INTO studies (study_instance_uid, patient_pk, study_date, study_time,
      accession_number, study_description, modalities_in_study, sop_classes_in_study, num_series, num_instances,
      updated_at, patient_name, patient_birth_date, patient_sex) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    series: db.statement(
      `INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number,
      series_description, num_instances) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    instance: db.statement(`INSERT INTO instances (sop_instance_uid, series_instance_uid, study_instance_uid,
      sop_class_uid, instance_number, rows, columns, bits_allocated, transfer_syntax_uid, path, file_size,
      dataset_offset, dataset_size, sha256, calling_aet, received_at)
      VALUES (?, ?, ?, '1.2.840.10008.5.1.4.1.1.2', ?, 512, 512, 16, '1.2.840.10008.1.2.1', ?, 526000, 336,
      525664, ?, 'SCANNER1', ?)`),
    queue: db.statement(`INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
      next_attempt_at, last_status, last_error, created_at, updated_at, done_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    conflict: db.statement(`INSERT INTO conflicts (sop_instance_uid, stored_sha256, received_sha256, policy,
      calling_aet, received_at) VALUES (?, ?, ?, 'keepFirst', 'SCANNER1', ?)`),
  };
  const counts: BigIndexCounts = {
    patients,
    studies,
    series: studies * SERIES_PER_STUDY,
    instances: total,
    done: 0,
    dead: 0,
    failed: 0,
    pending: 0,
    conflicts: 0,
  };
  const hash = "ab".repeat(32);
  const waitingFrom = total - Math.max(10, Math.round(total / 1000));
  let written = 0;
  let s = 0;
  while (s < studies) {
    db.write(() => {
      for (let rows = 0; s < studies && rows < ROWS_PER_TRANSACTION; s++) {
        const id = bigStudy(s);
        const p = Math.floor(s / STUDIES_PER_PATIENT);
        // Studies arrive in order over the year; the newest last.
        const at = now - YEAR + Math.floor((s / studies) * YEAR);
        const date = new Date(at).toISOString().slice(0, 10).replaceAll("-", "");
        if (s % STUDIES_PER_PATIENT === 0) {
          const n = Math.min(STUDIES_PER_PATIENT, studies - s);
          st.patient.run(
            p + 1,
            id.patientId,
            id.patientName,
            birthDate(p),
            p % 2 ? "F" : "M",
            n,
            n * SERIES_PER_STUDY,
            n * SERIES_PER_STUDY * INSTANCES_PER_SERIES,
          );
        }
        st.study.run(
          id.studyInstanceUid,
          p + 1,
          date,
          "101500",
          id.accessionNumber,
          `${id.modality} STUDY`,
          id.modality,
          "1.2.840.10008.5.1.4.1.1.2",
          SERIES_PER_STUDY,
          SERIES_PER_STUDY * INSTANCES_PER_SERIES,
          at,
          id.patientName,
          birthDate(p),
          p % 2 ? "F" : "M",
        );
        for (let k = 0; k < SERIES_PER_STUDY; k++) {
          const seriesUid = `${id.studyInstanceUid}.${k + 1}`;
          st.series.run(
            seriesUid,
            id.studyInstanceUid,
            id.modality,
            String(k + 1),
            "AXIAL",
            INSTANCES_PER_SERIES,
          );
          for (let i = 0; i < INSTANCES_PER_SERIES; i++) {
            const sop = `${seriesUid}.${i + 1}`;
            const received = at + k * 1000 + i;
            st.instance.run(
              sop,
              seriesUid,
              id.studyInstanceUid,
              String(i + 1),
              `archive/${id.studyInstanceUid}/${seriesUid}/${sop}.dcm`,
              hash,
              received,
            );
            for (const [r, target] of BIG_ROUTES.entries()) {
              // The newest objects' rows (0.1 %, at least 10 objects') still wait; one in 2000 went to the dead
              // letter.
              const n = written * 2 + r;
              const state = n % 2000 === 1 ? "dead" : written >= waitingFrom ? "pending" : "done";
              const failed = state === "pending" && n % 7 === 0;
              const finalState = failed ? "failed" : state;
              counts[finalState]++;
              st.queue.run(
                sop,
                target.route,
                target.destination,
                finalState,
                finalState === "done" ? 1 : finalState === "pending" ? 0 : 5,
                finalState === "failed" ? now + 60_000 : received,
                finalState === "done" ? 0 : finalState === "pending" ? null : 0xa700,
                finalState === "done" || finalState === "pending" ? "" : "C-STORE answered 0xA700",
                received,
                received + 500,
                finalState === "done" ? received + 500 : null,
              );
            }
            if (written % 3000 === 2) {
              st.conflict.run(sop, hash, "cd".repeat(32), received + 3600_000);
              counts.conflicts++;
            }
            written++;
            rows += 3;
          }
        }
      }
    });
    options.progress?.(written, total);
  }
  return counts;
}

if (import.meta.main) {
  const [dir, ...rest] = Deno.args;
  const flag = (name: string, fallback: number) => {
    const i = rest.indexOf(name);
    return i < 0 ? fallback : Number(rest[i + 1]);
  };
  if (!dir) {
    console.error("usage: deno run -A tests/support/big_index.ts DATA_DIR [--scale 1]");
    Deno.exit(2);
  }
  await Deno.mkdir(dir, { recursive: true });
  const file = path.join(dir, "agent.db");
  const db = await Database.open(file, { durable: false });
  const started = performance.now();
  let shown = 0;
  const counts = fillBigIndex(db, {
    scale: flag("--scale", 1),
    progress: (n, total) => {
      if (n - shown >= 300_000 || n === total) {
        shown = n;
        console.error(`${n} / ${total} instances, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
    },
  });
  db.close();
  const size = (await Deno.stat(file)).size;
  console.log(JSON.stringify({
    file,
    ...counts,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    megabytes: Math.round(size / 1e6),
  }));
}
