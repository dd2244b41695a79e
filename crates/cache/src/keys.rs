//! The cache keys of the contract (`docs/contract.md`), byte for byte as the old API wrote them,
//! so both services can share one KV namespace during the migration. Built by concatenation, not
//! `format!`: a key is made on every read.

pub const KEEP_ALIVE: &str = "keep-alive";

pub fn fixed_cost_list(user_id: &str) -> String {
    ["fixed-cost-list:", user_id].concat()
}

pub fn billable_cost(user_id: &str) -> String {
    ["billable-cost:", user_id].concat()
}

pub fn equipment_cost_list(user_id: &str) -> String {
    ["equipment-cost-list:", user_id].concat()
}

pub fn user(user_id: &str) -> String {
    ["user:", user_id].concat()
}

/// Every key that holds data of this user.
pub fn all_of_user(user_id: &str) -> Vec<String> {
    vec![
        fixed_cost_list(user_id),
        billable_cost(user_id),
        equipment_cost_list(user_id),
        user(user_id),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_old_api() {
        assert_eq!(fixed_cost_list("user_1"), "fixed-cost-list:user_1");
        assert_eq!(billable_cost("user_1"), "billable-cost:user_1");
        assert_eq!(equipment_cost_list("user_1"), "equipment-cost-list:user_1");
        assert_eq!(user("user_1"), "user:user_1");
        assert_eq!(all_of_user("u").len(), 4);
    }
}
