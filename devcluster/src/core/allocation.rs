//! The allocator: which framework is offered which agent's free resources, and rescinds.

use std::time::Instant;

use mesos_proto::v1::scheduler::{event as sevent, Event as SEvent};
use mesos_proto::v1::{AgentId, ExecutorId, FrameworkId};

use super::{Core, OutstandingOffer};
use crate::resources::Resources;

impl Core {
    /// Offers every free agent to one framework (rotating), and sends each framework its
    /// offers of this cycle in one OFFERS event, as a Mesos master does with the offers of one
    /// allocation: a scheduler sees them together and can spread pods over them.
    pub(super) fn allocate(&mut self, now: Instant) {
        let mut batches: Vec<(String, Vec<mesos_proto::v1::Offer>)> = Vec::new();
        let agent_ids: Vec<String> = self.agents.keys().cloned().collect();
        for agent_id in agent_ids {
            if self.offers.values().any(|o| o.agent_id == agent_id) {
                continue;
            }
            let Some(agent) = self.agents.get(&agent_id) else {
                continue;
            };
            if !(agent.up && agent.reachable) {
                continue;
            }
            let available = agent.available();
            if !available.is_offerable() {
                continue;
            }
            let candidates: Vec<String> = self
                .frameworks
                .values()
                .filter(|f| f.stream_id.is_some() && !f.suppressed)
                .filter(|f| {
                    f.refused
                        .get(&agent_id)
                        .is_none_or(|refusal| !refusal.filters(&available, now))
                })
                .map(|f| f.id.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            self.alloc_cursor = self.alloc_cursor.wrapping_add(1);
            let framework_id = candidates[self.alloc_cursor % candidates.len()].clone();
            let Some(offer) = self.make_offer(&framework_id, &agent_id, available) else {
                continue;
            };
            match batches.iter_mut().find(|(id, _)| *id == framework_id) {
                Some((_, offers)) => offers.push(offer),
                None => batches.push((framework_id, vec![offer])),
            }
        }
        for (framework_id, offers) in batches {
            self.send_to_framework(
                &framework_id,
                SEvent {
                    r#type: Some(sevent::Type::Offers as i32),
                    offers: Some(sevent::Offers { offers }),
                    ..Default::default()
                },
            );
        }
    }

    /// Records an outstanding offer of the agent's free resources to the framework.
    fn make_offer(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        available: Resources,
    ) -> Option<mesos_proto::v1::Offer> {
        let f = self.frameworks.get(framework_id)?;
        let role = f.offer_role();
        let multi_role = f.multi_role();
        let offer_id = self.next_id("O");
        let agent = self.agents.get(agent_id)?;
        let executor_ids = agent
            .executors
            .keys()
            .filter(|(fid, _)| fid == framework_id)
            .map(|(_, e)| ExecutorId { value: e.clone() })
            .collect();
        let offer = mesos_proto::v1::Offer {
            id: mesos_proto::v1::OfferId {
                value: offer_id.clone(),
            },
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            hostname: agent.hostname.clone(),
            resources: available.to_proto(multi_role.then_some(role.as_str())),
            attributes: agent.attributes.clone(),
            executor_ids,
            allocation_info: multi_role.then(|| mesos_proto::v1::resource::AllocationInfo {
                role: Some(role.clone()),
            }),
            ..Default::default()
        };
        self.offers.insert(
            offer_id,
            OutstandingOffer {
                framework_id: framework_id.to_string(),
                agent_id: agent_id.to_string(),
                resources: available,
                role,
            },
        );
        Some(offer)
    }

    /// Rescinds every offer of an agent (it went away).
    pub(super) fn rescind_agent_offers(&mut self, agent_id: &str) {
        let ids: Vec<(String, String)> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(id, o)| (id.clone(), o.framework_id.clone()))
            .collect();
        for (offer_id, framework_id) in ids {
            self.offers.remove(&offer_id);
            self.spent_offers.insert(offer_id.clone());
            self.send_to_framework(
                &framework_id,
                SEvent {
                    r#type: Some(sevent::Type::Rescind as i32),
                    rescind: Some(sevent::Rescind {
                        offer_id: mesos_proto::v1::OfferId { value: offer_id },
                    }),
                    ..Default::default()
                },
            );
        }
    }
}
