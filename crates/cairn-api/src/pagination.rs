//! Pagination of spec section 1.1, one piece for every list operation.

use cairn_store::PageQuery;

use crate::error::{ApiResult, RequestError};
use crate::extract::QueryParams;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// Far beyond any real list; keeps `start * pageSize` well inside 64 bits.
pub const MAX_START: u64 = 1_000_000_000;

/// `start` (page index), `pageSize`, `sortOrder`, `sortBy`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub start: u64,
    pub page_size: u32,
    pub descending: bool,
}

impl PageRequest {
    pub fn from_query(q: &QueryParams) -> ApiResult<Self> {
        let start = match q.get("start") {
            None => 0,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n < 0 => return Err(RequestError::NegativeStart.into()),
                Ok(n) => (n as u64).min(MAX_START),
                Err(_) => return Err(RequestError::StartNotANumber.into()),
            },
        };
        let page_size = match q.get("pageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n <= 0 => return Err(RequestError::PageSizeOutOfRange.into()),
                Ok(n) => n.min(i64::from(MAX_PAGE_SIZE)) as u32,
                Err(_) => return Err(RequestError::PageSizeNotANumber.into()),
            },
        };
        let descending = match q.get("sortOrder") {
            None | Some("DESC") => true,
            Some("ASC") => false,
            Some(_) => return Err(RequestError::UnknownSortOrder.into()),
        };
        match q.get("sortBy") {
            None | Some("createdAt") => {}
            Some(_) => return Err(RequestError::UnknownSortBy.into()),
        }
        Ok(PageRequest {
            start,
            page_size,
            descending,
        })
    }

    pub fn to_store(self) -> PageQuery {
        PageQuery {
            offset: self.start * u64::from(self.page_size),
            limit: self.page_size,
            descending: self.descending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ApiResult<PageRequest> {
        let q = QueryParams::parse(query);
        PageRequest::from_query(&q)
    }

    #[test]
    fn defaults_clamping_and_errors() {
        assert_eq!(
            parse("").unwrap(),
            PageRequest {
                start: 0,
                page_size: 20,
                descending: true
            }
        );
        assert_eq!(
            parse("start=2&pageSize=500&sortOrder=ASC&sortBy=createdAt").unwrap(),
            PageRequest {
                start: 2,
                page_size: 100,
                descending: false
            }
        );
        for (query, field) in [
            ("start=-1", "start"),
            ("start=x", "start"),
            ("pageSize=0", "pageSize"),
            ("pageSize=-5", "pageSize"),
            ("pageSize=1.5", "pageSize"),
            ("sortOrder=asc", "sortOrder"),
            ("sortBy=name", "sortBy"),
        ] {
            let err = parse(query).unwrap_err();
            assert_eq!(err.status, 400, "{query}");
            assert_eq!(err.body.errors.as_ref().unwrap()[0].field, field, "{query}");
        }
        assert_eq!(
            parse("start=2&pageSize=7").unwrap().to_store(),
            PageQuery {
                offset: 14,
                limit: 7,
                descending: true
            }
        );
        assert_eq!(parse("start=99999999999999").unwrap().start, MAX_START);
    }
}
