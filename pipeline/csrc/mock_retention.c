/*
 * Retention for librdkafka's mock cluster (`cartrack-worker broker`).
 *
 * The mock keeps at most 5 MiB or 100,000 message sets per partition and drops the oldest
 * beyond that, read or not (rdkafka_mock.c, rd_kafka_mock_partition_init), and offers no API to
 * change it. This file reaches into its internal structures (compiled against the very
 * librdkafka tree rdkafka-sys built, so the layouts match) and, on the mock cluster's own thread
 * (as a callback op on its queue, so nothing races with request handling):
 *   - lifts the mock's own limits, so it never drops anything by itself;
 *   - drops a partition's oldest message sets only once every consumer group that committed on
 *     the partition has committed past them, and only while the partition holds more than
 *     `retain_bytes` (consumed data is kept up to that, for re-reading);
 *   - refuses produce requests to a broker while one of the partitions it leads holds more than
 *     `max_backlog_bytes` not yet consumed, with NOT_ENOUGH_REPLICAS: retriable, "not
 *     persisted", so producers keep the records and retry (backpressure), and nothing is lost;
 *   - refuses, the same way, an idempotent producer's batch that does not continue its
 *     sequence on the partition. An idempotent producer keeps several requests in flight; when
 *     one is refused and a later one accepted, it takes the later acknowledgement as proof the
 *     refused records were written too (a real broker would have answered "out of order"),
 *     acknowledges them and never resends them. The mock checks sequences only for
 *     transactional producers, so this file does it, in a wrapper around the mock's Produce
 *     handler (the cluster keeps its own, writable, handler table).
 */
#include <pthread.h>

#include "rdkafka_int.h"
#include "rdkafka_mock.h"
#include "rdkafka_mock_int.h"
#include "rdkafka_op.h"
#include "rdkafka_queue.h"

/* Brokers tracked (the broker runs two). */
#define CARTRACK_MAX_BROKERS 8
/* Clusters with a retention rule in one process (tests start several). */
#define CARTRACK_MAX_CLUSTERS 64

typedef struct cartrack_retention_stats_s {
        uint64_t checks;              /* checks done on the mock thread */
        uint64_t refusing_checks;     /* checks that found some broker over its bound */
        uint64_t trimmed_msgsets;     /* consumed message sets dropped */
        uint64_t trimmed_bytes;       /* their bytes */
        uint64_t retained_bytes;      /* bytes held now, all partitions */
        uint64_t backlog_bytes;       /* bytes not yet consumed now, all partitions */
        uint64_t max_partition_backlog; /* largest unconsumed bytes of one partition seen */
        uint32_t refusing_brokers;    /* bit (id - 1) set while that broker refuses produce */
        /* The partition with the largest backlog at the last check, to name it in logs. */
        char worst_topic[64];
        int32_t worst_partition;
        int64_t worst_floor;          /* lowest committed offset, -1 if no group committed */
        int64_t worst_end;            /* end offset */
        uint64_t worst_backlog;
        uint64_t refused_requests;    /* produce requests refused, for either reason */
        uint64_t sequence_refusals;   /* of which: a batch out of its producer's sequence */
} cartrack_retention_stats_t;

/* The sequence an idempotent producer's next batch on a partition must start at. */
typedef struct cartrack_seq_s {
        const rd_kafka_mock_partition_t *mpart;
        int64_t pid;
        int16_t epoch;
        int32_t next;
} cartrack_seq_t;

/* A partition's unconsumed bytes as of the last check, kept so that a check counts only what
 * was appended or consumed since: walking every retained or unconsumed message set every 5 ms
 * was a third of the broker's CPU. `first` is never dropped while it is here (only message
 * sets below the floor are, and it is at or past it). */
typedef struct cartrack_backlog_s {
        const rd_kafka_mock_partition_t *mpart;
        int64_t floor; /* the floor it was counted for */
        int64_t end;   /* the end offset then: message sets from it on are new */
        const rd_kafka_mock_msgset_t *first; /* first set at or past `floor`, NULL if none */
        size_t bytes;  /* bytes from `first` on */
} cartrack_backlog_t;

/* One partition's batch of the produce request being handled. */
typedef struct cartrack_batch_s {
        rd_kafka_mock_partition_t *mpart;
        int64_t end_before; /* its end offset before the request: appended if it moved */
        int64_t pid;
        int16_t epoch;
        int32_t base_seq;
        int32_t count;
} cartrack_batch_t;

typedef struct cartrack_retention_s {
        rd_kafka_mock_cluster_t *mcluster;
        size_t max_backlog_bytes;
        size_t retain_bytes;
        /* Written on the mock thread under mcluster->lock; read under it too. */
        cartrack_retention_stats_t stats;
        uint64_t queued; /* checks queued (caller's thread only) */
        /* Mock thread only: brokers refusing produce (bit id - 1), from the last check. */
        uint32_t refusing;
        /* Mock thread only: producers' sequences, and a scratch list of a request's batches. */
        cartrack_seq_t *seqs;
        size_t seq_cnt, seq_cap;
        cartrack_batch_t *batches;
        size_t batch_cap;
        /* Mock thread only: each partition's unconsumed bytes as of the last check. */
        cartrack_backlog_t *backlogs;
        size_t backlog_cnt, backlog_cap;
} cartrack_retention_t;

/* The mock's own Produce handler (the same function for every cluster). */
static int (*cartrack_mock_produce)(rd_kafka_mock_connection_t *mconn,
                                    rd_kafka_buf_t *rkbuf);

/* Which retention state belongs to which cluster, for the Produce wrapper, which is only
 * given the connection. Held for the whole of a wrapped request, so a state is never freed
 * under one. */
static pthread_mutex_t cartrack_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static cartrack_retention_t *cartrack_registry[CARTRACK_MAX_CLUSTERS];

/* Drops the first message set of a partition, as rd_kafka_mock_msgset_destroy does. */
static void cartrack_drop_first(rd_kafka_mock_partition_t *mpart) {
        rd_kafka_mock_msgset_t *mset = TAILQ_FIRST(&mpart->msgsets);
        const rd_kafka_mock_msgset_t *next = TAILQ_NEXT(mset, link);

        if (!next)
                mpart->start_offset = mpart->end_offset;
        else
                mpart->start_offset = next->first_offset;
        if (mpart->update_follower_start_offset)
                mpart->follower_start_offset = mpart->start_offset;
        mpart->cnt--;
        mpart->size -= RD_KAFKAP_BYTES_LEN(&mset->bytes);
        TAILQ_REMOVE(&mpart->msgsets, mset, link);
        rd_free(mset);
}

/* The lowest offset committed on the partition by any group, or -1 if none committed. */
static int64_t cartrack_consumed_floor(const rd_kafka_mock_partition_t *mpart) {
        const rd_kafka_mock_committed_offset_t *coff;
        int64_t floor = -1;

        TAILQ_FOREACH(coff, &mpart->committed_offsets, link) {
                if (coff->offset < 0)
                        continue;
                if (floor == -1 || coff->offset < floor)
                        floor = coff->offset;
        }
        return floor;
}

/* The bytes of `mpart` not consumed by every group that committed on it (`floor` >= 0: the
 * lowest committed offset), counted from where the last check left off: the sets appended
 * since are added (walked from the newest back), those the floor passed since are taken off
 * (walked from the first one still counted). A floor that moved back is counted afresh, from
 * the newest back. Call before dropping consumed sets. */
static size_t cartrack_backlog(cartrack_retention_t *st,
                               const rd_kafka_mock_partition_t *mpart,
                               int64_t floor) {
        cartrack_backlog_t *b = NULL;
        const rd_kafka_mock_msgset_t *mset;
        size_t i;

        for (i = 0; i < st->backlog_cnt; i++) {
                if (st->backlogs[i].mpart == mpart) {
                        b = &st->backlogs[i];
                        break;
                }
        }
        if (!b) {
                if (st->backlog_cnt == st->backlog_cap) {
                        st->backlog_cap = st->backlog_cap ? st->backlog_cap * 2 : 16;
                        st->backlogs    = rd_realloc(
                            st->backlogs, st->backlog_cap * sizeof(*st->backlogs));
                }
                b        = &st->backlogs[st->backlog_cnt++];
                b->mpart = mpart;
                b->first = NULL;
        }

        if (!b->first || floor < b->floor) {
                b->bytes = 0;
                b->first = NULL;
                TAILQ_FOREACH_REVERSE(mset, &mpart->msgsets,
                                      rd_kafka_mock_msgset_tailq_s, link) {
                        if (mset->last_offset < floor)
                                break;
                        b->bytes += RD_KAFKAP_BYTES_LEN(&mset->bytes);
                        b->first = mset;
                }
        } else {
                TAILQ_FOREACH_REVERSE(mset, &mpart->msgsets,
                                      rd_kafka_mock_msgset_tailq_s, link) {
                        if (mset->first_offset < b->end)
                                break;
                        b->bytes += RD_KAFKAP_BYTES_LEN(&mset->bytes);
                }
                for (mset = b->first; mset && mset->last_offset < floor;
                     mset = TAILQ_NEXT(mset, link))
                        b->bytes -= RD_KAFKAP_BYTES_LEN(&mset->bytes);
                b->first = mset;
        }
        b->floor = floor;
        b->end   = mpart->end_offset;
        return b->bytes;
}

/* Makes the broker's mock handler refuse the next produce request (the one about to be
 * handled) with NOT_ENOUGH_REPLICAS. */
static void cartrack_refuse_next(rd_kafka_mock_cluster_t *mcluster,
                                 rd_kafka_mock_broker_t *mrkb) {
        rd_kafka_mock_error_stack_t *errstack;

        mtx_lock(&mcluster->lock);
        TAILQ_FOREACH(errstack, &mrkb->errstacks, link) {
                if (errstack->ApiKey == RD_KAFKAP_Produce)
                        break;
        }
        if (!errstack) {
                errstack         = rd_calloc(1, sizeof(*errstack));
                errstack->ApiKey = RD_KAFKAP_Produce;
                TAILQ_INSERT_TAIL(&mrkb->errstacks, errstack, link);
        }
        if (errstack->size < 1) {
                errstack->errs = rd_realloc(errstack->errs, sizeof(*errstack->errs));
                errstack->size = 1;
        }
        errstack->errs[0].err = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
        errstack->errs[0].rtt = 0;
        errstack->cnt         = 1;
        mtx_unlock(&mcluster->lock);
}

/* Clears what `cartrack_refuse_next` left if the handler did not take it (a parse error). */
static void cartrack_refuse_none(rd_kafka_mock_cluster_t *mcluster,
                                 rd_kafka_mock_broker_t *mrkb) {
        rd_kafka_mock_error_stack_t *errstack;

        mtx_lock(&mcluster->lock);
        TAILQ_FOREACH(errstack, &mrkb->errstacks, link) {
                if (errstack->ApiKey == RD_KAFKAP_Produce)
                        errstack->cnt = 0;
        }
        mtx_unlock(&mcluster->lock);
}

static cartrack_seq_t *cartrack_seq_find(cartrack_retention_t *st,
                                         const rd_kafka_mock_partition_t *mpart,
                                         int64_t pid) {
        size_t i;
        for (i = 0; i < st->seq_cnt; i++) {
                if (st->seqs[i].mpart == mpart && st->seqs[i].pid == pid)
                        return &st->seqs[i];
        }
        return NULL;
}

static int32_t cartrack_be32(const char *p) {
        const unsigned char *u = (const unsigned char *)p;
        return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
                         (uint32_t)u[2] << 8 | (uint32_t)u[3]);
}

/* Reads the request's batches into st->batches (the reader is put back afterwards); returns
 * their number, or -1 if the request does not parse (the mock's handler then answers it). */
static int cartrack_read_batches(cartrack_retention_t *st,
                                 rd_kafka_mock_cluster_t *mcluster,
                                 rd_kafka_buf_t *rkbuf) {
        const int log_decode_errors = 0;
        rd_kafkap_str_t TransactionalId = RD_KAFKAP_STR_INITIALIZER;
        int16_t Acks;
        int32_t TimeoutMs, TopicsCnt;
        int cnt = 0;

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 3)
                rd_kafka_buf_read_str(rkbuf, &TransactionalId);
        rd_kafka_buf_read_i16(rkbuf, &Acks);
        rd_kafka_buf_read_i32(rkbuf, &TimeoutMs);
        rd_kafka_buf_read_arraycnt(rkbuf, &TopicsCnt, RD_KAFKAP_TOPICS_MAX);
        while (TopicsCnt-- > 0) {
                rd_kafkap_str_t Topic;
                int32_t PartitionCnt;
                rd_kafka_mock_topic_t *mtopic;

                rd_kafka_buf_read_str(rkbuf, &Topic);
                rd_kafka_buf_read_arraycnt(rkbuf, &PartitionCnt,
                                           RD_KAFKAP_PARTITIONS_MAX);
                mtopic = rd_kafka_mock_topic_find_by_kstr(mcluster, &Topic);
                while (PartitionCnt-- > 0) {
                        int32_t Partition;
                        rd_kafkap_bytes_t records;
                        cartrack_batch_t *batch;
                        rd_kafka_mock_partition_t *mpart = NULL;

                        rd_kafka_buf_read_i32(rkbuf, &Partition);
                        rd_kafka_buf_read_kbytes(rkbuf, &records);
                        rd_kafka_buf_skip_tags(rkbuf);
                        if (mtopic)
                                mpart = rd_kafka_mock_partition_find(mtopic, Partition);
                        if (!mpart || RD_KAFKAP_BYTES_LEN(&records) <
                                          RD_KAFKAP_MSGSET_V2_SIZE)
                                continue;
                        if ((size_t)cnt == st->batch_cap) {
                                st->batch_cap = st->batch_cap ? st->batch_cap * 2 : 16;
                                st->batches   = rd_realloc(
                                    st->batches, st->batch_cap * sizeof(*st->batches));
                        }
                        batch             = &st->batches[cnt++];
                        batch->mpart      = mpart;
                        batch->end_before = mpart->end_offset;
                        {
                                const char *d = (const char *)records.data;
                                batch->pid = (int64_t)((uint64_t)(uint32_t)cartrack_be32(
                                                           d + RD_KAFKAP_MSGSET_V2_OF_ProducerId)
                                                           << 32 |
                                                       (uint32_t)cartrack_be32(
                                                           d + RD_KAFKAP_MSGSET_V2_OF_ProducerId + 4));
                                batch->epoch = (int16_t)(
                                    (unsigned char)d[RD_KAFKAP_MSGSET_V2_OF_ProducerEpoch] << 8 |
                                    (unsigned char)d[RD_KAFKAP_MSGSET_V2_OF_ProducerEpoch + 1]);
                                batch->base_seq =
                                    cartrack_be32(d + RD_KAFKAP_MSGSET_V2_OF_BaseSequence);
                                batch->count =
                                    cartrack_be32(d + RD_KAFKAP_MSGSET_V2_OF_RecordCount);
                        }
                }
                rd_kafka_buf_skip_tags(rkbuf);
        }
        return cnt;

err_parse:
        return -1;
}

/* The Produce handler: the mock's, refusing the whole request (every partition in it) while
 * its broker is over the backlog bound or when a batch skips ahead of its producer's
 * sequence, and noting the sequences of what was appended. */
static int cartrack_handle_Produce(rd_kafka_mock_connection_t *mconn,
                                   rd_kafka_buf_t *rkbuf) {
        rd_kafka_mock_broker_t *mrkb      = mconn->broker;
        rd_kafka_mock_cluster_t *mcluster = mrkb->cluster;
        cartrack_retention_t *st          = NULL;
        size_t start                      = rd_slice_offset(&rkbuf->rkbuf_reader);
        rd_bool_t over_bound = rd_false, out_of_sequence = rd_false;
        int cnt, i, r;

        pthread_mutex_lock(&cartrack_registry_lock);
        for (i = 0; i < CARTRACK_MAX_CLUSTERS; i++) {
                if (cartrack_registry[i] && cartrack_registry[i]->mcluster == mcluster) {
                        st = cartrack_registry[i];
                        break;
                }
        }
        if (!st) {
                pthread_mutex_unlock(&cartrack_registry_lock);
                return cartrack_mock_produce(mconn, rkbuf);
        }

        cnt = cartrack_read_batches(st, mcluster, rkbuf);
        rd_slice_seek(&rkbuf->rkbuf_reader, start);

        over_bound = mrkb->id >= 1 && mrkb->id <= CARTRACK_MAX_BROKERS &&
                     ((st->refusing >> (mrkb->id - 1)) & 1);
        for (i = 0; i < cnt; i++) {
                const cartrack_batch_t *batch = &st->batches[i];
                const cartrack_seq_t *seq;
                int32_t expected;
                if (batch->pid < 0)
                        continue;
                seq = cartrack_seq_find(st, batch->mpart, batch->pid);
                if (!seq)
                        continue;
                /* A new epoch restarts the sequence at 0. Ahead of the expected sequence:
                 * an earlier batch was refused (the producer resends it); behind it: a resend
                 * of one already written, left to the mock. */
                expected = seq->epoch == batch->epoch ? seq->next : 0;
                if ((int32_t)((uint32_t)batch->base_seq - (uint32_t)expected) > 0)
                        out_of_sequence = rd_true;
        }

        if (over_bound || out_of_sequence)
                cartrack_refuse_next(mcluster, mrkb);
        r = cartrack_mock_produce(mconn, rkbuf);
        if (over_bound || out_of_sequence) {
                cartrack_refuse_none(mcluster, mrkb);
                mtx_lock(&mcluster->lock);
                st->stats.refused_requests++;
                if (out_of_sequence)
                        st->stats.sequence_refusals++;
                mtx_unlock(&mcluster->lock);
        }
        for (i = 0; i < cnt; i++) {
                const cartrack_batch_t *batch = &st->batches[i];
                rd_bool_t appended = batch->mpart->end_offset != batch->end_before;
                cartrack_seq_t *seq;
                if (batch->pid < 0)
                        continue;
                seq = cartrack_seq_find(st, batch->mpart, batch->pid);
                if (!seq) {
                        if (st->seq_cnt == st->seq_cap) {
                                st->seq_cap = st->seq_cap ? st->seq_cap * 2 : 16;
                                st->seqs    = rd_realloc(st->seqs,
                                                         st->seq_cap * sizeof(*st->seqs));
                        }
                        seq        = &st->seqs[st->seq_cnt++];
                        seq->mpart = batch->mpart;
                        seq->pid   = batch->pid;
                        seq->epoch = batch->epoch;
                        seq->next  = batch->base_seq;
                } else if (seq->epoch != batch->epoch) {
                        seq->epoch = batch->epoch;
                        seq->next  = 0;
                }
                /* Appended: the next batch continues it. Refused as the first batch seen of
                 * this producer (or epoch) here: the next must be its resend. */
                if (appended) {
                        int32_t end = (int32_t)((uint32_t)batch->base_seq +
                                                (uint32_t)batch->count);
                        /* A resend behind the sequence does not move it back. */
                        if ((int32_t)((uint32_t)end - (uint32_t)seq->next) > 0)
                                seq->next = end;
                }
        }
        pthread_mutex_unlock(&cartrack_registry_lock);
        return r;
}

/* One check, on the mock thread. */
static rd_kafka_op_res_t
cartrack_check(rd_kafka_t *rk, rd_kafka_q_t *rkq, rd_kafka_op_t *rko) {
        cartrack_retention_t *st =
            (cartrack_retention_t *)(intptr_t)rko->rko_u.mock.lo;
        rd_kafka_mock_cluster_t *mcluster = st->mcluster;
        rd_kafka_mock_topic_t *mtopic;
        uint32_t refusing          = 0;
        uint64_t retained          = 0;
        uint64_t backlog_total     = 0;
        uint64_t trimmed_msgsets   = 0;
        uint64_t trimmed_bytes     = 0;
        uint64_t max_backlog       = 0;
        const char *worst_topic    = "";
        int32_t worst_partition    = -1;
        int64_t worst_floor        = -1;
        int64_t worst_end          = -1;
        (void)rk;
        (void)rkq;

        if (mcluster->api_handlers[RD_KAFKAP_Produce].cb != cartrack_handle_Produce) {
                cartrack_mock_produce = mcluster->api_handlers[RD_KAFKAP_Produce].cb;
                mcluster->api_handlers[RD_KAFKAP_Produce].cb = cartrack_handle_Produce;
        }

        TAILQ_FOREACH(mtopic, &mcluster->topics, link) {
                int i;
                for (i = 0; i < mtopic->partition_cnt; i++) {
                        rd_kafka_mock_partition_t *mpart = &mtopic->partitions[i];
                        const rd_kafka_mock_msgset_t *mset;
                        int64_t floor = cartrack_consumed_floor(mpart);
                        size_t backlog;

                        /* Never drop anything by the mock's own rule. */
                        mpart->max_size = SIZE_MAX;
                        mpart->max_cnt  = SIZE_MAX;

                        /* Counted before the drop below, which frees only sets below the
                         * floor, so the count's first set stays. */
                        backlog = floor >= 0 ? cartrack_backlog(st, mpart, floor)
                                             : mpart->size;

                        /* Consumed and beyond what is kept for re-reading: drop. */
                        while (floor >= 0 && mpart->size > st->retain_bytes &&
                               (mset = TAILQ_FIRST(&mpart->msgsets)) &&
                               mset->last_offset < floor) {
                                trimmed_msgsets++;
                                trimmed_bytes += RD_KAFKAP_BYTES_LEN(&mset->bytes);
                                cartrack_drop_first(mpart);
                        }
                        retained += mpart->size;
                        backlog_total += backlog;
                        if (backlog > max_backlog || worst_partition < 0) {
                                max_backlog     = backlog;
                                worst_topic     = mtopic->name;
                                worst_partition = mpart->id;
                                worst_floor     = floor;
                                worst_end       = mpart->end_offset;
                        }
                        if (backlog > st->max_backlog_bytes && mpart->leader &&
                            mpart->leader->id >= 1 &&
                            mpart->leader->id <= CARTRACK_MAX_BROKERS)
                                refusing |= 1u << (mpart->leader->id - 1);
                }
        }

        st->refusing = refusing;
        mtx_lock(&mcluster->lock);
        st->stats.checks++;
        if (refusing)
                st->stats.refusing_checks++;
        st->stats.trimmed_msgsets += trimmed_msgsets;
        st->stats.trimmed_bytes += trimmed_bytes;
        st->stats.retained_bytes   = retained;
        st->stats.backlog_bytes    = backlog_total;
        if (max_backlog > st->stats.max_partition_backlog)
                st->stats.max_partition_backlog = max_backlog;
        st->stats.refusing_brokers = refusing;
        rd_snprintf(st->stats.worst_topic, sizeof(st->stats.worst_topic), "%s",
                    worst_topic);
        st->stats.worst_partition = worst_partition;
        st->stats.worst_floor     = worst_floor;
        st->stats.worst_end       = worst_end;
        st->stats.worst_backlog   = max_backlog;
        mtx_unlock(&mcluster->lock);

        return RD_KAFKA_OP_RES_HANDLED;
}

cartrack_retention_t *cartrack_retention_new(rd_kafka_mock_cluster_t *mcluster,
                                             size_t max_backlog_bytes,
                                             size_t retain_bytes) {
        cartrack_retention_t *st = rd_calloc(1, sizeof(*st));
        int i;
        st->mcluster          = mcluster;
        st->max_backlog_bytes = max_backlog_bytes;
        st->retain_bytes      = retain_bytes;
        pthread_mutex_lock(&cartrack_registry_lock);
        for (i = 0; i < CARTRACK_MAX_CLUSTERS; i++) {
                if (!cartrack_registry[i]) {
                        cartrack_registry[i] = st;
                        break;
                }
        }
        pthread_mutex_unlock(&cartrack_registry_lock);
        if (i == CARTRACK_MAX_CLUSTERS) {
                rd_free(st);
                return NULL;
        }
        return st;
}

/* Queues one check on the mock thread; returns the number queued so far. */
uint64_t cartrack_retention_check(cartrack_retention_t *st) {
        rd_kafka_op_t *rko =
            rd_kafka_op_new_cb(st->mcluster->rk, RD_KAFKA_OP_MOCK, cartrack_check);
        rko->rko_u.mock.lo = (int64_t)(intptr_t)st;
        rd_kafka_q_enq(st->mcluster->ops, rko);
        return ++st->queued;
}

void cartrack_retention_stats(cartrack_retention_t *st,
                              cartrack_retention_stats_t *out) {
        mtx_lock(&st->mcluster->lock);
        *out = st->stats;
        mtx_unlock(&st->mcluster->lock);
}

void cartrack_retention_free(cartrack_retention_t *st) {
        int i;
        pthread_mutex_lock(&cartrack_registry_lock);
        for (i = 0; i < CARTRACK_MAX_CLUSTERS; i++) {
                if (cartrack_registry[i] == st)
                        cartrack_registry[i] = NULL;
        }
        pthread_mutex_unlock(&cartrack_registry_lock);
        rd_free(st->seqs);
        rd_free(st->batches);
        rd_free(st->backlogs);
        rd_free(st);
}

const rd_kafka_mock_msgset_t *
__real_rd_kafka_mock_msgset_find(const rd_kafka_mock_partition_t *mpart,
                                 int64_t offset,
                                 rd_bool_t on_follower);

/* The mock's Fetch handler finds the message set holding the fetch offset by walking the
 * partition's list from its oldest set (rdkafka_mock.c). With what this broker keeps (the
 * consumed bytes kept for re-reading, plus any backlog) that walk, once per partition per
 * fetch, was a quarter of the broker's CPU at volume. Readers that keep up fetch near the
 * newest set, so an offset in the newer half of the partition is looked for from the newest
 * end. The linker sends the handler's calls here (`--wrap`, see build.rs). */
const rd_kafka_mock_msgset_t *
__wrap_rd_kafka_mock_msgset_find(const rd_kafka_mock_partition_t *mpart,
                                 int64_t offset,
                                 rd_bool_t on_follower) {
        const rd_kafka_mock_msgset_t *mset;

        if (on_follower || offset < mpart->start_offset ||
            offset > mpart->end_offset ||
            offset - mpart->start_offset < mpart->end_offset - offset)
                return __real_rd_kafka_mock_msgset_find(mpart, offset,
                                                        on_follower);
        TAILQ_FOREACH_REVERSE(mset, &mpart->msgsets,
                              rd_kafka_mock_msgset_tailq_s, link) {
                if (mset->first_offset <= offset)
                        return offset <= mset->last_offset ? mset : NULL;
        }
        return NULL;
}
