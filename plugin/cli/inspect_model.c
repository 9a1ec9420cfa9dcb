/* `streamtune inspect model FILE [--dag DAG.json] [--params]`: configuration, training record
 * and clusters of a model file (each cluster's medoid DAG, size and radius); with --dag, which
 * member serves that DAG and the edit path to the nearest medoid.
 * `streamtune inspect ged A.json B.json`: graph edit distance and edit path of two DAGs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dagjson.h"
#include "ged.h"
#include "model.h"

/* One line per operator and edge, indented. */
static void print_dag(const stn_dag *d, const char *indent)
{
	for (size_t i = 0; i < d->n_ops; i++) {
		const stn_op *o = &d->ops[i];
		printf("%sop %-3u %-10s %-18s sel %.4g%s", indent, o->id,
		       stn__op_kind_name(o->kind) ? stn__op_kind_name(o->kind) : "?",
		       o->name[0] ? o->name : "-", o->selectivity, o->stateful ? " stateful" : "");
		if (o->kind == STN_KIND_SOURCE)
			printf(" rate %.6g/s", o->source_rate);
		printf("\n");
	}
	for (size_t e = 0; e < d->n_edges; e++) {
		const stn_edge *x = &d->edges[e];
		printf("%sedge %u -> %u %s\n", indent, d->ops[x->from].id, d->ops[x->to].id,
		       stn__part_name(x->part) ? stn__part_name(x->part) : "?");
	}
}

static const char *op_label(const stn_dag *d, uint32_t i, char *buf, size_t cap)
{
	if (i >= d->n_ops) {
		snprintf(buf, cap, "-");
		return buf;
	}
	const stn_op *o = &d->ops[i];
	snprintf(buf, cap, "%u %s%s%s", o->id, stn__op_kind_name(o->kind),
		 o->name[0] ? " " : "", o->name);
	return buf;
}

static const char *edge_label(const stn_dag *d, uint32_t e, char *buf, size_t cap)
{
	if (e >= d->n_edges) {
		snprintf(buf, cap, "-");
		return buf;
	}
	const stn_edge *x = &d->edges[e];
	snprintf(buf, cap, "%u->%u %s", d->ops[x->from].id, d->ops[x->to].id,
		 stn__part_name(x->part));
	return buf;
}

/* The edit path from a to b: every operation that costs something, then a count of the
 * free ones (substitutions of equal labels). */
static void print_path(const stn_dag *a, const stn_dag *b, const stn_ged_result *r,
		       const char *indent)
{
	size_t free_ops = 0;
	char x[128], y[128];
	for (size_t i = 0; i < r->n_path; i++) {
		const stn_ged_op *op = &r->path[i];
		if (op->cost == 0) {
			free_ops++;
			continue;
		}
		bool node = op->type <= STN_GED_NODE_INS;
		const char *sa = node ? op_label(a, op->a, x, sizeof(x)) : edge_label(a, op->a, x, sizeof(x));
		const char *sb = node ? op_label(b, op->b, y, sizeof(y)) : edge_label(b, op->b, y, sizeof(y));
		switch (op->type) {
		case STN_GED_NODE_DEL:
		case STN_GED_EDGE_DEL:
			printf("%s%-18s %s\n", indent, stn__ged_op_name(op->type), sa);
			break;
		case STN_GED_NODE_INS:
		case STN_GED_EDGE_INS:
			printf("%s%-18s %s\n", indent, stn__ged_op_name(op->type), sb);
			break;
		default:
			printf("%s%-18s %s  =>  %s\n", indent, stn__ged_op_name(op->type), sa, sb);
			break;
		}
	}
	printf("%s(%zu operations of cost 0: operators and edges that match)\n", indent, free_ops);
}

static void model_usage(FILE *f)
{
	fprintf(f, "usage: streamtune inspect model FILE [--dag DAG.json] [--params]\n\n"
		   "Shows a model file: encoder, training record, the histories it was trained on, and\n"
		   "its members: the global one and one per cluster with the cluster's medoid DAG,\n"
		   "size (distinct DAGs) and radius (normalised GED).\n\n"
		   "  --dag DAG.json  also: which member serves this DAG (nearest medoid, or global when\n"
		   "                  farther than radius x margin) and the edit path to that medoid\n"
		   "                  (DAG format: streamtune inspect ged --help)\n"
		   "  --params        list every member's parameter tensors\n");
}

int inspect_model(int argc, char **argv)
{
	const char *cmd = "inspect model", *file = NULL, *dagfile = NULL;
	bool params = false;

	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			model_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--dag") == 0) {
			if (i + 1 >= argc)
				return stn_cli_usage_error(cmd, "--dag needs a file");
			dagfile = argv[++i];
		} else if (strcmp(argv[i], "--params") == 0) {
			params = true;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return stn_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (file == NULL) {
			file = argv[i];
		} else {
			return stn_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	if (file == NULL)
		return stn_cli_usage_error(cmd, "usage: FILE [--dag DAG.json] [--params]");
	stn_model m;
	stn_errbuf eb = {{0}};
	stn_status st = stn__model_read(&m, file, &eb);
	if (st != STN_OK)
		return stn_cli_error(cmd, "%s (%s)", eb.text, stn__status_name(st)); /* eb: file */
	stn_dag dag;
	stn__dag_init(&dag);
	if (dagfile != NULL && (st = stn__dagjson_read(dagfile, &dag, &eb)) != STN_OK) {
		stn__model_fini(&m);
		return stn_cli_error(cmd, "%s (%s)", eb.text, stn__status_name(st));
	}
	size_t per = stn__net_param_count(&m.cfg);
	printf("model %s\n", file);
	printf("  format version  %u\n", m.version);
	printf("  encoder         %u layers, width %u, %u node features\n",
	       (unsigned)m.cfg.layers, (unsigned)m.cfg.width, (unsigned)m.cfg.feat_dim);
	printf("  head            monotone (log c, alpha in (0.2,1], sharpness)\n");
	printf("  parameters      %zu per member\n", per);
	printf("  seed            %llu\n", (unsigned long long)m.seed);
	printf("  data hash       %016llx\n", (unsigned long long)m.data_hash);
	printf("  data            %s\n", m.description[0] ? m.description : "(none)");
	printf("  margin          %.3g (a DAG farther than radius x margin from every medoid is "
	       "served by the global member)\n",
	       m.margin);
	if (m.has_info) {
		const stn_model_training *t = &m.train;
		const stn_model_data *d = &m.data;
		printf("  training        up to %u epochs, batch %u, lr %g, validation %.2f, patience "
		       "%u\n",
		       t->max_epochs, t->batch, t->lr, t->val_fraction, t->patience);
		printf("  clustering      k in %u..%u by silhouette (chose %u, silhouette %.3f), radius "
		       "quantile %.2f, exact GED up to %u operators\n",
		       t->k_min, t->k_max, d->k, d->silhouette, t->radius_quantile,
		       t->ged_exact_max_nodes);
		printf("  data read       %llu jobs, %llu DAG versions, %llu distinct DAGs, %llu "
		       "windows, %llu labelled observations (%llu bottleneck)\n",
		       (unsigned long long)d->jobs, (unsigned long long)d->dag_versions,
		       (unsigned long long)d->unique_dags, (unsigned long long)d->windows,
		       (unsigned long long)d->observations, (unsigned long long)d->positives);
		for (size_t i = 0; i < d->n_histories; i++)
			printf("  history         %s: %llu jobs, %llu windows, digest %016llx\n",
			       d->histories[i].name, (unsigned long long)d->histories[i].jobs,
			       (unsigned long long)d->histories[i].windows,
			       (unsigned long long)d->histories[i].digest);
	}
	printf("  members         %zu\n", m.n_members);
	for (size_t i = 0; i < m.n_members; i++) {
		const stn_model_member *x = &m.members[i];
		printf("    [%zu] %s", i, x->name);
		if (x->has_dag)
			printf(": cluster of %llu distinct DAGs, radius %.4f\n",
			       (unsigned long long)x->dags, x->radius);
		else
			printf(": global member (%llu distinct DAGs)\n", (unsigned long long)x->dags);
		if (m.has_info) {
			printf("        trained on %llu windows, %llu labelled observations (%llu "
			       "bottleneck)",
			       (unsigned long long)x->windows, (unsigned long long)x->observations,
			       (unsigned long long)x->positives);
			if (x->shared_global)
				printf("; too few: shares the global member's parameters\n");
			else
				printf("; %u epochs, validation loss %.4f\n", x->epochs, x->val_loss);
		}
		if (x->has_dag) {
			printf("        medoid DAG (%zu operators, %zu edges, hash %016llx):\n",
			       x->dag.n_ops, x->dag.n_edges,
			       (unsigned long long)stn__dag_hash(&x->dag));
			print_dag(&x->dag, "          ");
		}
		for (size_t t = 0; params && t < x->net.n_tensors; t++)
			printf("        %-12s %zu x %zu\n", x->net.tensors[t].name,
			       x->net.tensors[t].rows, x->net.tensors[t].cols);
	}
	int rc = 0;
	if (dagfile != NULL) {
		stn_model_assignment a;
		st = stn__model_assign(&m, &dag, 0.0, NULL, true, &a, &eb);
		if (st != STN_OK) {
			rc = stn_cli_error(cmd, "assigning %s: %s", dagfile, eb.text);
		} else {
			printf("DAG %s (%zu operators, %zu edges)\n", dagfile, dag.n_ops, dag.n_edges);
			if (a.nearest < 0) {
				printf("  the model has no clusters\n");
			} else {
				printf("  nearest medoid  [%ld] %s at normalised GED %.4f (raw %llu%s); "
				       "radius %.4f x margin %.3g = %.4f\n",
				       a.nearest, m.members[a.nearest].name, a.distance,
				       (unsigned long long)a.path.cost, a.path.exact ? ", exact" : ", upper bound",
				       a.radius, a.margin, a.radius * a.margin);
			}
			if (a.member >= 0)
				printf("  served by       [%ld] %s%s\n", a.member, m.members[a.member].name,
				       a.global ? " (global member)" : "");
			else
				printf("  served by       nothing: the model has no usable member\n");
			if (a.nearest >= 0) {
				printf("  edit path to the medoid:\n");
				print_path(&dag, &m.members[a.nearest].dag, &a.path, "    ");
			}
		}
		stn__model_assignment_fini(&a);
	}
	stn__dag_fini(&dag);
	stn__model_fini(&m);
	return rc;
}

static void ged_usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune inspect ged A.json B.json [--exact|--approx] [--max-expansions N]\n\n"
		"Graph edit distance between two job DAGs (node label: operator kind; edge label:\n"
		"partitioning; unit costs) and the edit path from A to B. Exact search up to 12\n"
		"operators (or with --exact), the bipartite approximation above (or with --approx).\n\n"
		"A DAG file is JSON:\n"
		"  {\"operators\": [{\"id\": 1, \"name\": \"bids\", \"kind\": \"source\"},\n"
		"                 {\"id\": 2, \"name\": \"sink\", \"kind\": \"sink\"}],\n"
		"   \"edges\": [{\"from\": 1, \"to\": 2, \"partitioning\": \"hash\"}]}\n"
		"kinds: source map filter flat_map exchange window join aggregate sink other;\n"
		"partitionings: forward hash broadcast rebalance; optional operator fields: stateful,\n"
		"selectivity, source_rate, parallelism, p_max. \"-\" reads standard input.\n");
}

int inspect_ged(int argc, char **argv)
{
	const char *cmd = "inspect ged", *files[2] = {NULL, NULL};
	stn_ged_opts go = stn__ged_opts_default();
	int nf = 0;

	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			ged_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--exact") == 0) {
			go.method = STN_GED_EXACT;
		} else if (strcmp(argv[i], "--approx") == 0) {
			go.method = STN_GED_APPROX;
		} else if (strcmp(argv[i], "--max-expansions") == 0) {
			if (!stn_cli_parse_u64(cmd, argv[i], i + 1 < argc ? argv[i + 1] : NULL,
					       &go.max_expansions))
				return 2;
			i++;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return stn_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (nf < 2) {
			files[nf++] = argv[i];
		} else {
			return stn_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	if (nf != 2)
		return stn_cli_usage_error(cmd, "two DAG files are needed: A.json B.json");
	stn_dag a, b;
	stn_errbuf eb = {{0}};
	stn_status st;
	int rc = 0;
	stn__dag_init(&a);
	stn__dag_init(&b);
	if ((st = stn__dagjson_read(files[0], &a, &eb)) != STN_OK) {
		rc = stn_cli_error(cmd, "%s (%s)", eb.text, stn__status_name(st));
		goto done;
	}
	if ((st = stn__dagjson_read(files[1], &b, &eb)) != STN_OK) {
		rc = stn_cli_error(cmd, "%s (%s)", eb.text, stn__status_name(st));
		goto done;
	}
	stn_ged_result r;
	go.want_path = true;
	if ((st = stn__ged_compute(&a, &b, &go, &r, &eb)) != STN_OK) {
		rc = stn_cli_error(cmd, "%s (%s)", eb.text, stn__status_name(st));
		goto done;
	}
	printf("A %s: %zu operators, %zu edges\n", files[0], a.n_ops, a.n_edges);
	printf("B %s: %zu operators, %zu edges\n", files[1], b.n_ops, b.n_edges);
	printf("GED %llu (%s), normalised %.4f (of %zu = |V|+|E| of both)\n",
	       (unsigned long long)r.cost,
	       r.exact ? "exact" : "upper bound: approximation or search budget reached",
	       r.normalised, a.n_ops + b.n_ops + a.n_edges + b.n_edges);
	if (r.expansions)
		printf("exact search expanded %llu partial mappings\n",
		       (unsigned long long)r.expansions);
	printf("edit path from A to B:\n");
	print_path(&a, &b, &r, "  ");
	stn__ged_result_fini(&r);
done:
	stn__dag_fini(&a);
	stn__dag_fini(&b);
	return rc;
}
