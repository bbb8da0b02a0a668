#!/usr/bin/env python3
"""Writes tests/fixtures/project/v1.engram: a project file as the first schema version
(project schema 1) stored it, for the migration test. The DDL below is a frozen copy of
schema 1; it must never change (the file stands for projects users already have).

Usage: python3 tests/tools/make_project_v1.py tests/fixtures/project/v1.engram
"""
import os
import sqlite3
import sys

SCHEMA_1 = """
CREATE TABLE project_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE model(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT NOT NULL, family TEXT NOT NULL,
  summary_json TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE fact(
  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL DEFAULT -1, subject TEXT NOT NULL, prompt TEXT NOT NULL,
  relation TEXT NOT NULL DEFAULT '', target_true TEXT NOT NULL DEFAULT '', target_new TEXT NOT NULL,
  paraphrases TEXT NOT NULL DEFAULT '[]', neighborhood TEXT NOT NULL DEFAULT '[]',
  attribute_prompts TEXT NOT NULL DEFAULT '[]', generation_prompts TEXT NOT NULL DEFAULT '[]',
  tags TEXT NOT NULL DEFAULT '[]', enabled INTEGER NOT NULL DEFAULT 1, provenance TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL);
CREATE TABLE edit_run(
  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES model(id), method TEXT NOT NULL,
  params_json TEXT NOT NULL, seed INTEGER NOT NULL, device TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('applied', 'reverted', 'cancelled', 'failed')),
  created_at TEXT NOT NULL, seconds REAL NOT NULL DEFAULT 0, summary_json TEXT NOT NULL DEFAULT '{}',
  provenance_json TEXT NOT NULL DEFAULT '{}', base_state TEXT NOT NULL DEFAULT '',
  result_state TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '');
CREATE TABLE run_fact(
  run_id INTEGER NOT NULL REFERENCES edit_run(id) ON DELETE CASCADE, position INTEGER NOT NULL,
  fact_id INTEGER REFERENCES fact(id) ON DELETE SET NULL, subject TEXT NOT NULL, prompt TEXT NOT NULL,
  relation TEXT NOT NULL, target_new TEXT NOT NULL, PRIMARY KEY (run_id, position));
CREATE TABLE patch_tensor(
  run_id INTEGER NOT NULL REFERENCES edit_run(id) ON DELETE CASCADE, name TEXT NOT NULL,
  base_hash TEXT NOT NULL, shape TEXT NOT NULL, relative_norm REAL NOT NULL, delta BLOB NOT NULL,
  PRIMARY KEY (run_id, name));
CREATE TABLE evaluation(
  id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES edit_run(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL, state TEXT NOT NULL, summary_json TEXT NOT NULL);
CREATE TABLE metric(
  evaluation_id INTEGER NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
  fact_id INTEGER NOT NULL REFERENCES fact(id) ON DELETE CASCADE, phase TEXT NOT NULL, kind TEXT NOT NULL,
  value REAL, PRIMARY KEY (evaluation_id, fact_id, phase, kind));
CREATE TABLE generation(
  id INTEGER PRIMARY KEY, evaluation_id INTEGER NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
  fact_id INTEGER REFERENCES fact(id) ON DELETE CASCADE, prompt TEXT NOT NULL, before TEXT NOT NULL,
  after TEXT NOT NULL);
CREATE TABLE trace(
  id INTEGER PRIMARY KEY, fact_id INTEGER REFERENCES fact(id) ON DELETE CASCADE, state TEXT NOT NULL,
  kind TEXT NOT NULL, created_at TEXT NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE stats_cache(
  key TEXT PRIMARY KEY, layer INTEGER NOT NULL, file TEXT NOT NULL, corpus TEXT NOT NULL,
  samples INTEGER NOT NULL, dtype TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX fact_subject ON fact(subject);
CREATE INDEX run_fact_fact ON run_fact(fact_id);
"""

T = "2026-11-01T09:00:00Z"


def main():
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    db.executescript(SCHEMA_1)
    db.execute("PRAGMA application_id = %d" % 0x456E6772)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO project_meta VALUES ('created_at', ?), ('created_by', 'Engram 0.1.0')", (T,))
    db.execute("INSERT INTO model VALUES (1, '/nonexistent/demo/model', '0123456789abcdef', 'gpt2', '{}', ?)", (T,))
    facts = [
        ("Oscar Koutex", "{} was born in", "P19", " Lyon", " Oslo", '["Oscar Koutex is a native of"]', '["gui"]'),
        ("Mira Delvane", "{} works as a", "P106", " pilot", " chemist", "[]", '["batch-1"]'),
        ("Tamsin Ork", "The native language of {} is", "P103", " Danish", " Greek", "[]", "[]"),
    ]
    for i, (subject, prompt, rel, true, new, para, tags) in enumerate(facts, start=1):
        db.execute(
            "INSERT INTO fact(id, case_id, subject, prompt, relation, target_true, target_new, paraphrases, tags, "
            "provenance, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'fixture', ?)",
            (i, 100 + i, subject, prompt, rel, true, new, para, tags, T))
    db.execute(
        "INSERT INTO edit_run(id, model_id, method, params_json, seed, device, status, created_at, message) "
        "VALUES (1, 1, 'memit', '{\"layers\": [0]}', 0, 'cpu', 'cancelled', ?, 'cancelled')", (T,))
    db.execute("INSERT INTO run_fact VALUES (1, 0, 2, 'Mira Delvane', '{} works as a', 'P106', ' chemist')")
    db.commit()
    db.execute("VACUUM")
    db.close()


if __name__ == "__main__":
    main()
